/*
 * AMX, Intel's tile matrix unit (Sapphire Rapids and later): whether this process
 * may use it, and the one tile configuration the kernels use (eight tiles of 16
 * rows x 64 bytes).  Used by the digit pass (``mir_digits.h``) and the grid pass's
 * AMX product (``mir_grid.h``).
 */
#ifndef MIR_FAST_AMX_H
#define MIR_FAST_AMX_H

#include <stdint.h>
#include <string.h>

#include "mir_rowfold.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__INTEL_COMPILER) && !defined(MIR_FAST_NO_CLONES) && __GNUC__ >= 11
#define MIR_AMX_ENABLED 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define MIR_TARGET_AMX __attribute__((target("amx-tile,amx-int8")))
#else
#define MIR_AMX_ENABLED 0
#endif

/* Rows of every tile (and of the kernels' row panels). */
#define MIR_AMX_ROWS 16

/*
 * 1 where this process may run the AMX kernels: the CPU has AMX-TILE and
 * AMX-INT8, the operating system saves their state (XCR0 bits 17 and 18), and
 * Linux granted the process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, for
 * every thread of the process); else 0.
 */
MIR_STATIC int mir_amx_available(void)
{
#if MIR_AMX_ENABLED && defined(SYS_arch_prctl)
    unsigned int eax, ebx, ecx, edx, xcr0_low, xcr0_high;
    unsigned long granted = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    if (!(edx & (1u << 24)) || !(edx & (1u << 25)))
        return 0;
    if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27)))
        return 0; /* no OSXSAVE: XCR0 cannot be read */
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & (3u << 17)) != (3u << 17))
        return 0;
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */))
        return 0;
    if (syscall(SYS_arch_prctl, 0x1022 /* ARCH_GET_XCOMP_PERM */, &granted) ||
        !(granted & (1ul << 18)))
        return 0;
    return 1;
#else
    return 0;
#endif
}

#if MIR_AMX_ENABLED
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) mir_tile_config;

/* Load the kernels' configuration: palette 1, eight tiles of 16 x 64 bytes. */
MIR_TARGET_AMX MIR_INLINE void mir_amx_configure(void)
{
    mir_tile_config config;
    int tile;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (tile = 0; tile < 8; ++tile) {
        config.colsb[tile] = 64;
        config.rows[tile] = MIR_AMX_ROWS;
    }
    _tile_loadconfig(&config);
}
#endif

#endif /* MIR_FAST_AMX_H */
