#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then programs built against the
# installed tree only: a C and a C++ program through pkg-config and through
# find_package(vmimage), each against the shared and the static library, run
# on a tiny image archive. Also: the SONAME, that the dynamic symbols are the
# C ABI and the C++ API only, the man page and the bash completion.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
: "${VMIMAGE_BUILD_DIR:?VMIMAGE_BUILD_DIR must point at the build tree}"
for tool in gcc g++ pkg-config nm readelf skopeo python3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps installs it)"
done
consumer=$VMIMAGE_SOURCE_DIR/tests/embed/consumer
prefix=$WORK/prefix

log "cmake --install --prefix"
cmake --install "$VMIMAGE_BUILD_DIR" --prefix "$prefix" >"$WORK/install.log" ||
  fail "install: $(cat "$WORK/install.log")"
libdir=$(dirname "$(find "$prefix" -name libvmimage.so.1 -print -quit)")
[[ -n $libdir && $libdir != . ]] || fail "no libvmimage.so.1 installed"
for f in "$libdir/libvmimage.a" "$libdir/pkgconfig/vmimage.pc" "$libdir/pkgconfig/vmimage-static.pc" \
  "$libdir/cmake/vmimage/vmimageConfig.cmake" "$libdir/cmake/vmimage/vmimageConfigVersion.cmake" \
  "$prefix/include/vmimage/vmimage.h" "$prefix/include/vmimage/builder.h" "$prefix/bin/vmimage" \
  "$prefix/share/man/man1/vmimage.1" "$prefix/share/bash-completion/completions/vmimage"; do
  [[ -f $f ]] || fail "not installed: ${f#"$prefix"/}"
done

log "SONAME and exported symbols"
grep -q 'SONAME.*\[libvmimage\.so\.1\]' <<<"$(readelf -d "$libdir/libvmimage.so.1")" || fail "SONAME"
nm -D --defined-only "$libdir/libvmimage.so.1" | awk '{print $3}' >"$WORK/symbols"
nm -DC --defined-only "$libdir/libvmimage.so.1" | cut -d' ' -f3- >"$WORK/demangled"
c_symbols=$(grep -c '^vmimage_' "$WORK/symbols" || true)
declared=$(grep -c '^VMIMAGE_API [^(]*\bvmimage_[a-z_]*(' "$prefix/include/vmimage/vmimage.h" || true)
[[ $c_symbols == "$declared" && $declared -gt 30 ]] ||
  fail "$c_symbols vmimage_* symbols exported, $declared declared in vmimage.h"
strays=$(grep -v '^vmimage_\|^VMIMAGE_1$' "$WORK/symbols" | sed 's/@.*//' | c++filt |
  grep -v '^vmimage::' || true)
[[ -z $strays ]] || fail "symbols outside the API are exported: $(head -5 <<<"$strays")"
grep -q '^vmimage::Builder::build(' "$WORK/demangled" || fail "the C++ API is not exported"
# Functions of internal namespaces and private implementations stay hidden.
! grep -q '^vmimage::[a-z_]\+::\|::Impl::' "$WORK/demangled" ||
  fail "internal C++ symbols are exported: $(grep -m3 '^vmimage::[a-z_]\+::\|::Impl::' "$WORK/demangled")"

log "man page and bash completion"
grep -q '^\.TH VMIMAGE "1"' "$prefix/share/man/man1/vmimage.1" || fail "vmimage.1 has no .TH"
grep -q "$("$VMIMAGE" --version | cut -d' ' -f2)" "$prefix/share/man/man1/vmimage.1" ||
  fail "vmimage.1 lacks the version"
grep -q 'pull' "$prefix/share/man/man1/vmimage.1" || fail "vmimage.1 lacks the subcommands"
# Every subcommand `vmimage --help` lists completes.
"$VMIMAGE" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}' >"$WORK/commands"
[[ $(wc -l <"$WORK/commands") -gt 10 ]] || fail "vmimage --help lists no subcommands"
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vmimage;
           printf "%s\n" "${COMPREPLY[@]}"' _ "$prefix/share/bash-completion/completions/vmimage" "$@"
}
while read -r command; do
  grep -qx "$command" <<<"$(complete_words vmimage "$command")" || fail "completion lacks $command"
done <"$WORK/commands"
[[ $(complete_words vmimage pull --fo) == --force ]] || fail "completion of pull --fo"

log "a tiny image archive"
python3 "$TOOLS/registry/make_image.py" "$WORK/layout" --tag v1 --layer gzip:7:2:3000 \
  --layer none:8:1:100 >/dev/null
skopeo copy -q "oci:$WORK/layout:v1" "oci-archive:$WORK/app.tar" >/dev/null

# run_program NAME BINARY LINKAGE: runs it on a fresh store; LINKAGE shared
# means it must load the installed libvmimage.so.1, static that it must not.
run_program() {
  local name=$1 binary=$2 linkage=$3
  # ldd's output is taken whole first: with pipefail, `ldd | grep -q` fails
  # whenever grep exits before ldd has written everything (SIGPIPE).
  local libs
  libs=$(ldd "$binary") || fail "ldd $binary"
  if [[ $linkage == shared ]]; then
    grep -q "$libdir/libvmimage.so.1" <<<"$libs" || fail "$name does not load the installed .so: $libs"
  else
    ! grep -q libvmimage <<<"$libs" || fail "$name loads libvmimage.so"
  fi
  "$binary" "$WORK/store-$name" "$WORK/app.tar" "app-$name:v1" >"$WORK/$name.out" 2>&1 ||
    fail "$name: $(cat "$WORK/$name.out")"
  grep -q PASS "$WORK/$name.out" || fail "$name: $(cat "$WORK/$name.out")"
}

log "pkg-config: C and C++, shared and static"
export PKG_CONFIG_PATH=$libdir/pkgconfig
[[ $(pkg-config --modversion vmimage) == $("$VMIMAGE" --version | cut -d' ' -f2) ]] ||
  fail "pkg-config version"
gcc -std=c99 -Wall -Wextra -Werror -o "$WORK/pc_c_shared" "$consumer/c_program.c" \
  $(pkg-config --cflags --libs vmimage) -Wl,-rpath,"$libdir" || fail "C, shared, pkg-config"
gcc -std=c99 -Wall -Wextra -Werror -o "$WORK/pc_c_static" "$consumer/c_program.c" \
  $(pkg-config --cflags --libs vmimage-static) || fail "C, static, pkg-config"
g++ -std=c++20 -Wall -Wextra -Werror -o "$WORK/pc_cxx_shared" "$consumer/cxx_program.cc" \
  $(pkg-config --cflags --libs vmimage) -Wl,-rpath,"$libdir" || fail "C++, shared, pkg-config"
g++ -std=c++20 -Wall -Wextra -Werror -o "$WORK/pc_cxx_static" "$consumer/cxx_program.cc" \
  $(pkg-config --cflags --libs vmimage-static) || fail "C++, static, pkg-config"
for linkage in shared static; do
  run_program "pc_c_$linkage" "$WORK/pc_c_$linkage" $linkage
  run_program "pc_cxx_$linkage" "$WORK/pc_cxx_$linkage" $linkage
done

log "find_package(vmimage): C and C++, shared and static"
cmake -S "$consumer" -B "$WORK/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  >"$WORK/consumer.log" 2>&1 || fail "configure: $(cat "$WORK/consumer.log")"
cmake --build "$WORK/consumer" >>"$WORK/consumer.log" 2>&1 || fail "build: $(cat "$WORK/consumer.log")"
for linkage in shared static; do
  run_program "cm_c_$linkage" "$WORK/consumer/c_$linkage" $linkage
  run_program "cm_cxx_$linkage" "$WORK/consumer/cxx_$linkage" $linkage
done
echo PASS
