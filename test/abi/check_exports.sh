#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_exports.sh LIBRARY LIST [--update]: the dynamic symbols LIBRARY defines must be exactly
# LIST's (lines "TYPE NAME@@NODE" as `nm -D --defined-only -C` prints them without the address;
# lines starting with # are comments). Also fails when a symbol of the C++ standard library is
# exported, when a library whose list has version nodes exports one without, or when a node is
# not one `readelf -V` shows the library defining. --update rewrites LIST from LIBRARY, keeping
# its comments: for an intended change.
set -euo pipefail
lib=$1
list=$2
exported() { nm -D --defined-only -C "$lib" | cut -d' ' -f2- | LC_ALL=C sort; }
actual=$(exported)
if [ "${3:-}" = "--update" ]; then
  { grep '^#' "$list" || true; echo "$actual"; } >"$list.new"
  mv "$list.new" "$list"
  echo "updated $list"
  exit 0
fi
expected=$(grep -v -e '^#' -e '^$' "$list" | LC_ALL=C sort)
status=0
if [ "$actual" != "$expected" ]; then
  echo "$lib does not export what $list lists:"
  diff <(echo "$expected") <(echo "$actual") | sed -n -e 's/^< /  listed, not exported:   /p' \
    -e 's/^> /  exported, not listed:   /p' || true  # diff exits 1 on a difference
  cat <<TEXT
An export that is not listed is an accident unless it is new API: hide it (only what the public
headers mark RCUFREE_API belongs to the ABI), or add it under a new version node in abi/*.map and
run: bash $0 $lib $list --update
A listed symbol that is gone or changed breaks programs built against the older library: that
needs a new SONAME (RCUFREE_SOVERSION in CMakeLists.txt; docs/contract.md, "ABI").
TEXT
  status=1
fi
# A symbol of namespace std: "std::" starting the name, before any parameter list (parameters of
# type std::string in rcufree's own functions are fine).
if sed 's/(.*//' <<<"$actual" | grep -E '(^| )std::'; then
  echo "$lib exports the C++ standard library's symbols above: the version script must keep them local"
  status=1
fi
# A library whose list names version nodes (librcufree.so) has every symbol under one, except
# the nodes' own absolute symbols ("A RCUFREE_0.1"). A list without nodes (a library that
# exports interposed names as they are) is only compared.
if grep -q '@@' <<<"$expected" && grep -v -e '@@' -e '^A ' <<<"$actual"; then
  echo "$lib exports the symbols above without a version node"
  status=1
fi
defined=$(readelf -V --wide "$lib" | sed -n '/Version definition section/,/Version needs section/p')
for node in $(sed -n 's/.*@@//p' <<<"$actual" | sort -u); do
  if ! grep -q "Name: $node\$" <<<"$defined"; then
    echo "readelf -V shows no definition of version node $node in $lib"
    status=1
  fi
done
[ $status -eq 0 ] && echo "$lib: $(wc -l <<<"$actual") exported symbols, as listed, under version node(s) $(sed -n 's/.*@@//p' <<<"$actual" | sort -u | tr '\n' ' ')"
exit $status
