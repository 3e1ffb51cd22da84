# A second scheduler while one runs: scxpack@fifo is refused (exit status 6,
# never restarted) and scxpack@fair keeps running.
systemctl start scxpack@fair
wait_for 60 state_is enabled || fail "scxpack@fair did not enable"
systemctl start scxpack@fifo || true
wait_for 60 unit_is scxpack@fifo failed || fail "scxpack@fifo is $(systemctl is-active scxpack@fifo), not failed"
# Long enough for a restart (RestartSec) to have happened if it were allowed.
sleep "$(($(prop scxpack@fifo RestartUSec | tr -dc 0-9) + 1))"
status=$(prop scxpack@fifo ExecMainStatus)
restarts=$(prop scxpack@fifo NRestarts)
fact fifo_exit_status "$status"
fact fifo_restarts "$restarts"
[ "$status" = 6 ] || fail "scxpack@fifo exited with $status, not 6 (busy)"
[ "$restarts" = 0 ] || fail "scxpack@fifo was restarted $restarts times"
unit_is scxpack@fifo failed || fail "scxpack@fifo is $(systemctl is-active scxpack@fifo) after RestartSec"
unit_is scxpack@fair active || fail "scxpack@fair is $(systemctl is-active scxpack@fair)"
ops_is scxpack_fair || fail "root/ops is '$(scx_ops)', not scxpack_fair"
journalctl -q -u scxpack@fifo --no-pager | grep -i 'another sched_ext scheduler' ||
  fail "the journal of scxpack@fifo does not name the busy scheduler"
