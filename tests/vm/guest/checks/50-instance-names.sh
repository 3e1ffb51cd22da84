# Scheduler names may hold '+' and '~': the unit's instance is the escaped
# name, and %I hands the loader the name itself.
unit=$(systemd-escape --template=scxpack@.service 'fifo+test~1')
echo "unit: $unit"
systemctl start "$unit"
wait_for 60 ops_is scxpack_fifo || fail "root/ops is '$(scx_ops)' after starting $unit"
cmdline=$(tr '\0' ' ' <"/proc/$(prop "$unit" MainPID)/cmdline")
case "$cmdline" in *" run fifo+test~1 "*) ;; *) fail "command line is '$cmdline'" ;; esac
systemctl stop "$unit"
wait_for 30 state_is disabled || fail "sched_ext is $(scx_state) after stopping $unit"
