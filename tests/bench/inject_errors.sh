#!/bin/sh
# Every row of bench_kernels' kernel table must fail `--quick` when its fast outputs are read
# 1e-2 of their scale off (--inject-error NAME): exit 1 and a MISMATCH line naming the kernel.
# So each row's comparison can see a wrong kernel. Usage: inject_errors.sh BENCH_KERNELS
bench="$1"
n=0
for k in $("$bench" --names); do
    out=$("$bench" --quick --inject-error "$k" "$k")
    rc=$?
    if [ "$rc" -ne 1 ] || ! printf '%s\n' "$out" | grep -q "^MISMATCH $k "; then
        printf '%s\n' "$out"
        echo "inject_errors: $k: exit $rc with its output perturbed (expected 1 and a MISMATCH line)"
        exit 1
    fi
    n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
    echo "inject_errors: bench_kernels --names listed no kernel"
    exit 1
fi
echo "inject_errors: each of the $n kernels fails --quick when its output is perturbed"
