# Sourced by the toolchain scripts. One build per cache at a time: a second caller (scripts/test
# while .ci/run's background build runs) waits for the first and then finds its result cached,
# instead of building into the same folder at the same time.
#   hold_build_lock CACHE_FOLDER
hold_build_lock() {
  mkdir -p "$1"
  exec 9>"$1/.build.lock"
  if ! flock -n 9; then
    say "another process is building into $1; waiting for it"
    flock 9
  fi
}
