# A scheduler the kernel ejects (error_after: scx_bpf_error after 2 s) is
# restarted as the unit says (StartLimitBurst starts in all), then the unit
# is failed, and its journal holds the kernel's reason.
unit=scxpack@error_after
burst=$(prop "$unit" StartLimitBurst)
systemctl start "$unit"
wait_for 120 unit_is "$unit" failed || fail "$unit is $(systemctl is-active "$unit") after 120 s"
restarts=$(prop "$unit" NRestarts)
result=$(prop "$unit" Result)
fact restarts "$restarts"
fact result "$result"
fact exit_status "$(prop "$unit" ExecMainStatus)"
# The start limit counts the first start too.
[ "$restarts" -le "$burst" ] || fail "$restarts restarts, more than StartLimitBurst=$burst"
[ "$restarts" -ge $((burst - 1)) ] || fail "only $restarts restarts before giving up (StartLimitBurst=$burst)"
sleep 4
[ "$(prop "$unit" NRestarts)" = "$restarts" ] || fail "restarted again after failing"
state_is disabled || fail "sched_ext is $(scx_state) after the unit failed"
journal=$(journalctl -q -u "$unit" --no-pager)
echo "$journal" | tail -n 12
echo "$journal" | grep -q 'scx_bpf_error' || fail "the journal lacks the kernel's exit reason (scx_bpf_error)"
echo "$journal" | grep -q 'scxpack error_after: fired after' || fail "the journal lacks the scheduler's exit message"
