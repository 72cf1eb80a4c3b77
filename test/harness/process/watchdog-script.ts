// The shell wrapper every long-running service runs under. It starts the service, forwards
// SIGTERM/SIGINT/HUP to it, and watches its stdin (the "lifeline" pipe held open only by this
// Node process): when that pipe reaches EOF because the owner died without cleaning up, the
// watcher tells the wrapper (SIGUSR1) and SIGKILLs the service; the wrapper then removes the
// service's directory, if one was given. The wrapper reaps both the service and the watcher,
// so a stopped service leaves no zombie behind.

/** The POSIX sh script running `"$@"` under a lifeline watchdog; `$1` is the orphan-cleanup directory. */
export const WATCHDOG_SCRIPT = `
orphan_dir=$1; shift
exec 3<&0 0</dev/null
"$@" &
child=$!
# From here on the wrapper's own messages (dash reports "Killed" jobs) go nowhere: writing
# them to the owner's pipe after the owner died would SIGPIPE the wrapper before cleanup.
exec 1>/dev/null 2>/dev/null
orphaned=
trap 'trapped=1; kill -TERM "$child" 2>/dev/null' TERM INT HUP
trap 'trapped=1; orphaned=1; kill -KILL "$child" 2>/dev/null' USR1
wrapper=$$
{
  trap '' TERM INT HUP
  while read -r _ <&3; do :; done
  kill -USR1 "$wrapper" 2>/dev/null
  kill -KILL "$child" 2>/dev/null
} &
watcher=$!
exec 3<&-
# A trap interrupts "wait" (status 128+signal); wait again for the real status. 127 means the
# job was already collected, so the status from before stands.
status=
while :; do
  trapped=
  wait "$child"; rc=$?
  if [ "$rc" -eq 127 ] && [ -n "$status" ]; then break; fi
  status=$rc
  [ -n "$trapped" ] || break
done
kill -KILL "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
if [ -n "$orphaned" ] && [ -n "$orphan_dir" ]; then rm -rf -- "$orphan_dir"; fi
exit "$status"
`;

/** Arguments for `spawn("/bin/sh", ...)` that run `command args...` under the watchdog. */
export function watchdogArgs(command: string, args: readonly string[], orphanDir = ""): string[] {
  return ["-c", WATCHDOG_SCRIPT, "harness-watchdog", orphanDir, command, ...args];
}
