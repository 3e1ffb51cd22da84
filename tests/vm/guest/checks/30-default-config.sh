# scxpack.service runs the scheduler /etc/default/scxpack names with its
# arguments; its Conflicts= makes it and scxpack@NAME replace each other.
. /etc/default/scxpack
[ -n "$SCXPACK_SCHEDULER" ] || fail "/etc/default/scxpack names no scheduler"
systemctl start scxpack.service
wait_for 60 state_is enabled || fail "scxpack.service did not enable a scheduler"
ops_is "scxpack_$SCXPACK_SCHEDULER" || fail "root/ops is '$(scx_ops)', /etc/default/scxpack names $SCXPACK_SCHEDULER"
cmdline=$(tr '\0' ' ' <"/proc/$(prop scxpack.service MainPID)/cmdline")
echo "command line: $cmdline"
case " $cmdline" in *" run $SCXPACK_SCHEDULER $SCXPACK_ARGS "*) ;; *) fail "command line is '$cmdline'" ;; esac
# Another choice in the file is honoured on restart.
cp /etc/default/scxpack /tmp/default-scxpack
trap 'cp /tmp/default-scxpack /etc/default/scxpack' EXIT
printf 'SCXPACK_SCHEDULER=fifo\nSCXPACK_ARGS=\n' >/etc/default/scxpack
systemctl restart scxpack.service
wait_for 60 ops_is scxpack_fifo || fail "root/ops is '$(scx_ops)' after choosing fifo"
# Starting an instance stops scxpack.service first (Conflicts=, ordered).
systemctl start scxpack@fair
wait_for 60 ops_is scxpack_fair || fail "root/ops is '$(scx_ops)' after starting scxpack@fair"
unit_is scxpack.service inactive || fail "scxpack.service is $(systemctl is-active scxpack.service) beside scxpack@fair"
unit_is scxpack@fair active || fail "scxpack@fair is $(systemctl is-active scxpack@fair)"
[ "$(prop scxpack@fair NRestarts)" = 0 ] || fail "scxpack@fair needed restarts"
