# systemctl start scxpack@fair: the unit is active and the kernel runs our
# scheduler; systemctl stop: the kernel is back to its own (disabled).
start=$(now_ms)
systemctl start scxpack@fair
wait_for 60 state_is enabled || fail "sched_ext is $(scx_state) 60 s after starting scxpack@fair"
fact start_to_enabled_ms $(($(now_ms) - start))
ops_is scxpack_fair || fail "root/ops is '$(scx_ops)', not scxpack_fair"
unit_is scxpack@fair active || fail "scxpack@fair is $(systemctl is-active scxpack@fair)"
# CAP_BPF (39) and CAP_PERFMON (38), nothing else.
caps=$(grep CapEff "/proc/$(prop scxpack@fair MainPID)/status" | cut -f2)
fact cap_eff "$caps"
[ "$caps" = 000000c000000000 ] || fail "the loader runs with CapEff $caps, not CAP_BPF and CAP_PERFMON only"
start=$(now_ms)
systemctl stop scxpack@fair
wait_for 30 state_is disabled || fail "sched_ext is $(scx_state) after systemctl stop"
fact stop_to_disabled_ms $(($(now_ms) - start))
unit_is scxpack@fair inactive || fail "scxpack@fair is $(systemctl is-active scxpack@fair) after stop"
journalctl -q -u scxpack@fair --no-pager | tail -n 5
