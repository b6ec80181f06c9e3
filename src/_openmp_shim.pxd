# OpenMP shim: the kernels call these instead of omp.h directly, so that a build
# without OpenMP (MIR_FAST_NO_OPENMP=1, or a compiler without it) still compiles
# and runs everything on one thread.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define MIR_OPENMP_ENABLED 1
    static inline int mir_omp_max_threads(void) { return omp_get_max_threads(); }
    static inline int mir_omp_thread_id(void) { return omp_get_thread_num(); }
    #else
    #define MIR_OPENMP_ENABLED 0
    static inline int mir_omp_max_threads(void) { return 1; }
    static inline int mir_omp_thread_id(void) { return 0; }
    #endif
    """
    bint MIR_OPENMP_ENABLED
    int mir_omp_max_threads() noexcept nogil
    int mir_omp_thread_id() noexcept nogil
