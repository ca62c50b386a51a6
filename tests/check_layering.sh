#!/bin/sh
# Dependencies point one way: core <- ops <- layers <- optim <- examples.
# Fails if a file in a lower folder includes a header of a higher one, either
# as <tapegrad/NAME.h> (resolved through the link in include/tapegrad/) or
# by a relative path.
set -eu
root=${1:-$(dirname "$0")/..}
cd "$root"
rank() {
    case $1 in
        core/*) echo 1 ;; ops/*) echo 2 ;; layers/*) echo 3 ;; optim/*) echo 4 ;;
        include/*) echo 5 ;; *) echo 6 ;;
    esac
}
bad=0 checked=0
for f in $(find core ops layers optim -name '*.[ch]' | sort); do
    from=$(rank "$f")
    dir=$(dirname "$f")
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f"); do
        name=$(echo "$inc" | tr -d '<>"')
        case $inc in
            \<tapegrad/*) target=$(readlink -f "include/$name" 2>/dev/null || true) ;;
            \<tapegrad.h\>) target=include/tapegrad.h ;;
            \"*) target=$(readlink -f "$dir/$name" 2>/dev/null || true) ;;
            *) continue ;;
        esac
        [ -n "$target" ] && [ -e "$target" ] || { echo "$f: cannot resolve $inc"; bad=$((bad + 1)); continue; }
        target=$(realpath --relative-to=. "$target")
        checked=$((checked + 1))
        if [ "$(rank "$target")" -gt "$from" ]; then
            echo "$f includes $target: a lower folder must not depend on a higher one"
            bad=$((bad + 1))
        fi
    done
done
echo "$checked includes checked"
[ "$bad" -eq 0 ] && echo "1 passed, 0 failed" || { echo "0 passed, 1 failed"; exit 1; }
