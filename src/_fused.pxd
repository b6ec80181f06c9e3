# Fused types shared by the kernels: input data, CSR indices, compute precision.
from libc.stdint cimport int32_t, int64_t

ctypedef fused data_t:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t

ctypedef fused work_t:
    float
    double
