# scxpack-daemon.service under the guest's systemd and system bus, with the
# shipped sandbox (CAP_BPF and CAP_PERFMON only, @system-service + bpf):
#   - it starts as a Type=dbus service owning org.scx.Loader;
#   - root starts, switches and stops schedulers over D-Bus (scx_loader's
#     methods; its properties name the scheduler, the mode and the
#     supported schedulers) and over its socket (`scxpack switch`), and the
#     kernel agrees;
#   - an unprivileged caller is refused by polkit (no agent, auth_admin) and
#     the running scheduler is untouched;
#   - stopping the service detaches the scheduler.
# Facts: the switch gap (ms without a scheduler of ours, as the daemon
# measured it), and the daemon's resident memory while it holds one.
# loader METHOD [SIGNATURE ARGS...]: calls org.scx.Loader's METHOD.
loader() {
  local method=$1
  shift
  busctl --system call org.scx.Loader /org/scx/Loader org.scx.Loader "$method" "$@"
}
current() { busctl --system get-property org.scx.Loader /org/scx/Loader org.scx.Loader CurrentScheduler; }

systemctl start scxpack-daemon
unit_is scxpack-daemon active || fail "scxpack-daemon is $(systemctl is-active scxpack-daemon)"
pid=$(prop scxpack-daemon MainPID)
caps=$(grep CapEff "/proc/$pid/status" | cut -f2)
fact cap_eff "$caps"
[ "$caps" = 000000c000000000 ] || fail "the daemon runs with CapEff $caps, not CAP_BPF and CAP_PERFMON only"

# StartScheduler(s scx_name, u sched_mode): scx_loader's name for fair is
# scx_fair or fair; mode 0 is auto.
loader StartScheduler su scx_fair 0 || fail "StartScheduler failed"
wait_for 30 state_is enabled || fail "sched_ext is $(scx_state) after StartScheduler"
ops_is scxpack_fair || fail "root/ops is '$(scx_ops)' after StartScheduler"
[ "$(current)" = 's "fair"' ] || fail "CurrentScheduler is $(current)"
supported=$(busctl --system get-property org.scx.Loader /org/scx/Loader org.scx.Loader SupportedSchedulers)
echo "SupportedSchedulers: $supported"
for name in fair fifo interactive; do
  echo "$supported" | grep -q "\"$name\"" || fail "SupportedSchedulers lacks $name: $supported"
done
# relay's decisions are made by scxpack-relay, which the daemon does not start.
if echo "$supported" | grep -q '"relay"'; then fail "SupportedSchedulers offers relay: $supported"; fi

# SwitchScheduler(s scx_name, u sched_mode) over D-Bus: mode 3 is lowlatency.
loader SwitchScheduler su scx_interactive 3 || fail "SwitchScheduler failed"
wait_for 30 ops_is scxpack_interactive || fail "root/ops is '$(scx_ops)' after SwitchScheduler"
state_is enabled || fail "sched_ext is $(scx_state) after SwitchScheduler"
[ "$(current)" = 's "interactive"' ] || fail "CurrentScheduler is $(current) after SwitchScheduler"
mode=$(busctl --system get-property org.scx.Loader /org/scx/Loader org.scx.Loader SchedulerMode)
[ "$mode" = "u 3" ] || fail "SchedulerMode is '$mode' after switching to lowlatency"

# Switch through the socket, with a mode and a parameter: the kernel keeps
# a scheduler of ours, and the daemon reports the gap.
out=$(scxpack switch fair --mode gaming --param slice_us=3000) || fail "scxpack switch: $out"
echo "$out"
gap=$(echo "$out" | sed -n 's/.*; \([0-9.]*\) ms without a scheduler of ours/\1/p')
[ -n "$gap" ] || fail "no switch gap in: $out"
fact switch_gap_ms "$gap"
state_is enabled || fail "sched_ext is $(scx_state) after the switch"
ops_is scxpack_fair || fail "root/ops is '$(scx_ops)' after the switch"
# SchedulerMode 1 is gaming.
mode=$(busctl --system get-property org.scx.Loader /org/scx/Loader org.scx.Loader SchedulerMode)
[ "$mode" = "u 1" ] || fail "SchedulerMode is '$mode' after switching to gaming"
fact daemon_rss_kb "$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"

# An unprivileged caller: polkit has no agent to ask, auth_admin says no.
# (dbus-send, not busctl: busctl shows only the errno of the D-Bus error.)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if err=$(as_nobody dbus-send --system --print-reply --dest=org.scx.Loader \
  /org/scx/Loader org.scx.Loader.StopScheduler 2>&1); then
  fail "uid 65534 stopped the scheduler: $err"
fi
echo "uid 65534: $err"
echo "$err" | grep -q "AccessDenied.*may not change the scheduler: polkit said no" ||
  fail "the refusal is not polkit's: $err"
state_is enabled || fail "sched_ext is $(scx_state) after a refused StopScheduler"
# Reading needs no authorization.
as_nobody busctl --system get-property org.scx.Loader /org/scx/Loader org.scx.Loader CurrentScheduler >/dev/null ||
  fail "uid 65534 could not read CurrentScheduler"

loader StopScheduler || fail "StopScheduler failed"
wait_for 30 state_is disabled || fail "sched_ext is $(scx_state) after StopScheduler"
[ "$(current)" = 's "unknown"' ] || [ "$(current)" = 's ""' ] || fail "CurrentScheduler is $(current) after stop"

# The service's stop detaches what it holds.
loader StartScheduler su fair 0 || fail "the second StartScheduler failed"
wait_for 30 state_is enabled || fail "sched_ext is $(scx_state) after the second StartScheduler"
systemctl stop scxpack-daemon
wait_for 30 state_is disabled || fail "sched_ext is $(scx_state) after systemctl stop scxpack-daemon"
journalctl -q -u scxpack-daemon --no-pager | tail -n 8
