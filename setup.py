"""Build the Cython kernels of mir_fast.

Metadata lives in ``pyproject.toml``; this file only declares the extension
modules and decides, by compiling and running a tiny program, whether the C
compiler can build and run OpenMP code.  Without OpenMP the kernels still build
(serially) and a loud warning says so.  ``MIR_FAST_NO_OPENMP=1`` forces the
serial build, which is how the test suite exercises that path.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n > 0 && omp_get_max_threads() > 0);
        return 0;
    }
    """
)


def openmp_flags(compiler_cmd):
    """Return the OpenMP flag when a probe program compiles, links and runs, else None."""
    if os.environ.get("MIR_FAST_NO_OPENMP", "") not in ("", "0"):
        return None
    flag = "-fopenmp"
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        binary = os.path.join(tmp, "probe")
        with open(source, "w") as fh:
            fh.write(OPENMP_PROBE)
        try:
            subprocess.run(
                [*compiler_cmd, flag, source, "-o", binary],
                check=True,
                capture_output=True,
            )
            out = subprocess.run([binary], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError):
            return None
    return flag if out.stdout.strip() == "1" else None


class BuildExtWithOpenMP(build_ext):
    """Add OpenMP flags to every extension when the compiler supports them."""

    def build_extensions(self):
        compiler_cmd = self.compiler.compiler_so[:1]
        flag = openmp_flags(compiler_cmd)
        if flag is None:
            banner = "=" * 72
            message = (
                f"\n{banner}\nmir_fast: building WITHOUT OpenMP. The kernels will run on one "
                "thread.\nSet up a compiler with OpenMP support (gcc, or clang with libomp) "
                f"for parallel kernels.\n{banner}\n"
            )
            warnings.warn(message, stacklevel=1)
            print(message, file=sys.stderr)
        for ext in self.extensions:
            if flag is None:
                ext.extra_compile_args.append("-fopenmp-simd")
                ext.define_macros.append(("MIR_FAST_SERIAL_BUILD", "1"))
            else:
                ext.extra_compile_args.append(flag)
                ext.extra_link_args.append(flag)
        super().build_extensions()


#: Every Cython and C source of the kernels: each extension depends on all of them, and
#: listing them here is also what puts them in the sdist (``python -m build``, asv),
#: whose setup.py cythonizes the ``.pyx`` files again.
KERNEL_SOURCES = sorted(str(path) for pattern in ("*.pyx", "*.pxd", "*.h")
                        for path in Path("src").glob(pattern))


def kernel_extension(name):
    """One extension module ``mir_fast.<name>`` built from ``src/<name>.pyx``."""
    return Extension(
        f"mir_fast.{name}",
        [f"src/{name}.pyx"],
        include_dirs=["src", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=["-O3", "-fno-math-errno", "-fno-trapping-math"],
        depends=KERNEL_SOURCES,
    )


EXTENSIONS = [kernel_extension(name) for name in
              ("_dense", "_sparse", "_exact", "_graph", "_grid", "_digits", "_openmp")]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        include_path=["src"],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
