# Declarations of the CSR kernel's dense head product in mir_head.h.
from libc.stdint cimport int64_t

cdef extern from "mir_head.h" nogil:
    void mir_head_products(const double *lab_t, int64_t n_lab, const double *u,
                           int64_t n_u, int64_t n_head, double *g)
