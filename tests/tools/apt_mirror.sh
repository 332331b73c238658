# Sourced by make_debian_image.sh and build_mkfs_erofs.sh: the apt mirror this
# machine is configured with.

# apt_mirror SUITE: the URI of the first apt source (one-line or deb822) that
# lists SUITE.
apt_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    # deb [options] URI SUITE COMPONENT...
    awk -v s="$suite" '{ sub(/\[[^]]*\]/, "") } $1 == "deb" && $3 == s { print $2; exit }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v s="$suite" '
      function flush() { if (!done && uris != "" && (" " suites " ") ~ (" " s " ") && deb) {
                           split(uris, u, " "); print u[1]; done = 1; exit }
                         uris = suites = ""; deb = 0 }
      /^[ \t]*$/ { flush(); next }
      /^URIs:/ { uris = $0; sub(/^URIs:[ \t]*/, "", uris) }
      /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
      /^Types:/ && / deb( |$)/ { deb = 1 }
      END { flush() }' "$f"
  done
}
