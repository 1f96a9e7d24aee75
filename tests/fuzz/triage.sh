#!/bin/sh
# Sorts what a fuzzer run found: replays each crash, leak, out-of-memory and
# timeout input of build-fuzz/crashes/FUZZER-* with the harness and takes the
# first frame of its report that is not the sanitizer, libFuzzer or libc.
# A frame inside libhdf5 is HDF5's own failure on a damaged file (khsim reads
# such files in a child process and reports them as damaged: docs/guarantees.md); any other frame is khsim's, a new failure.
#
#     sh tests/fuzz/triage.sh build-fuzz/fuzz_h5 build-fuzz/crashes/fuzz_h5-
#
# Prints one line per input; exits 1 when one is khsim's, else 0.
bin=$1
prefix=$2
new=0
known=0
for a in "$prefix"*; do
    [ -f "$a" ] || continue
    report=$(ASAN_OPTIONS=detect_leaks=1 timeout 120 "$bin" -timeout=20 -rss_limit_mb=4096 \
                 -malloc_limit_mb=8192 "$a" 2>&1)
    code=$?
    if [ "$code" -eq 0 ]; then
        echo "passes now: $a"
        continue
    fi
    frame=$(printf '%s\n' "$report" |
            grep -E '^ +#[0-9]+ ' |
            grep -v -E '__asan|__sanitizer|__interceptor|__lsan|__ubsan|asan_|libclang_rt|fuzzer::|LLVMFuzzerTestOneInput|in (malloc|calloc|realloc|free|operator) |__mem[a-z_]*|__str[a-z_]*|sysdeps/|libc\.so|libpthread|ld-linux|in (abort|raise|__GI_|gsignal)' |
            head -n 1)
    if printf '%s' "$frame" | grep -q -E 'libhdf5| in H5[A-Za-z_]'; then
        known=$((known + 1))
        echo "libhdf5: $a:$(printf '%s' "$frame" | sed 's/^ *#[0-9]* 0x[0-9a-f]* //')"
    else
        new=$((new + 1))
        echo "NEW (khsim's): $a (exit $code): ${frame:-no stack: replay it by hand}"
    fi
done
echo "triage: $known inside libhdf5, $new elsewhere"
[ "$new" -eq 0 ]
