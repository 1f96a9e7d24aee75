#!/bin/sh
# make check-layers: every #include "LAYER/file.h" in the sources of the
# layers given (lowest first) names its own layer or a lower one; an include
# that points up, or that names no layer ("../src/x.h", "x.h" for a file of
# another directory), fails with the file and line.
#
#     sh scripts/check_layers.sh core models solvers gpu io run cmd
rank() {
    i=0
    for l in $LAYERS; do
        [ "$l" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    echo -1
}
LAYERS="$*"
out=$(mktemp)
bad=0
for layer in $LAYERS; do
    mine=$(rank "$layer")
    for f in "$layer"/*.c "$layer"/*.h "$layer"/*.cu; do
        [ -f "$f" ] || continue
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
            n=${line%%:*}
            inc=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
            case "$inc" in
            kh_models.def | kh_solvers.def) continue ;; # generated into build/
            */*)
                top=${inc%%/*}
                r=$(rank "$top")
                if [ "$r" -lt 0 ]; then
                    echo "$f:$n: #include \"$inc\" names no layer ($LAYERS)"
                    echo bad
                elif [ "$r" -gt "$mine" ]; then
                    echo "$f:$n: #include \"$inc\": $layer may not include $top (a higher layer)"
                    echo bad
                fi
                ;;
            *)
                echo "$f:$n: #include \"$inc\" does not name its layer (write \"$layer/$inc\" or the layer it is in)"
                echo bad
                ;;
            esac
        done
    done
done >"$out"
if grep -q '^bad$' "$out"; then
    grep -v '^bad$' "$out"
    rm -f "$out"
    echo "check-layers: includes point up (order: $LAYERS)"
    exit 1
fi
rm -f "$out"
echo "check-layers: every include points down ($LAYERS)"
