# Helpers for guest checks (sourced by run-checks; every check runs with
# $CHECK set to its name and this file sourced). A check is a bash script
# (run with -eu) that exits 0 when it passed.
SCX=/sys/kernel/sched_ext

# A report line on the console.
say() { echo "SCXPACK-GUEST $*"; }
# fact KEY VALUE: a figure the host collects (no spaces in KEY or VALUE).
fact() { say fact "${CHECK:-?}" "$1" "$2"; }
# fail MESSAGE: ends the check as failed, saying why.
fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sched_ext's state: enabled, disabled, enabling, disabling.
scx_state() { cat "$SCX/state"; }
# The active scheduler's ops name (empty when none).
scx_ops() { cat "$SCX/root/ops" 2>/dev/null || true; }

# wait_for SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds;
# fails when it does not within SECONDS.
wait_for() {
  local limit=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$limit" ] || return 1
    sleep 0.05
  done
}
state_is() { [ "$(scx_state)" = "$1" ]; }
# ops_is NAME: the active scheduler is ops NAME (the kernel may show it
# with a version suffix: scxpack_fair_0.1.0).
ops_is() {
  local ops
  ops=$(scx_ops)
  [ "$ops" = "$1" ] || [ "${ops%_*}" = "$1" ]
}
unit_is() { [ "$(systemctl is-active "$1")" = "$2" ]; }
# prop UNIT PROPERTY: one property's value.
prop() { systemctl show -P "$2" "$1"; }

# Stops every scxpack unit, forgets failures and start limits, and waits
# until sched_ext is disabled.
clean_state() {
  systemctl stop 'scxpack*' 2>/dev/null || true
  systemctl reset-failed 'scxpack*' 2>/dev/null || true
  wait_for 30 state_is disabled || echo "clean_state: sched_ext still $(scx_state)"
}
