# The loader needs CAP_BPF and CAP_PERFMON, and no more: the unit's main
# process has exactly those (10-start-stop reports them), CAP_SYS_ADMIN may
# stand in for CAP_PERFMON (the kernel's perfmon_capable()), and with
# CAP_BPF alone the loader refuses up front (exit status 7), where the
# kernel would refuse the programs with EPERM.
# try CAPS: exit status of a 1 s run of fair with bounding set CAPS.
try() {
  local rc=0
  systemd-run --quiet --wait --pipe -p "CapabilityBoundingSet=$1" -p NoNewPrivileges=yes \
    /usr/bin/scxpack run fair --duration 1 >/dev/null 2>/tmp/caps.err || rc=$?
  wait_for 30 state_is disabled || fail "sched_ext is $(scx_state) after the run with $1"
  echo "$rc"
}
bounding=$(prop scxpack@fair CapabilityBoundingSet | tr ' ' '\n' | sort | paste -sd' ')
[ "$bounding" = "cap_bpf cap_perfmon" ] || fail "scxpack@fair's bounding set is '$bounding'"
rc=$(try "CAP_BPF CAP_PERFMON")
[ "$rc" = 0 ] || fail "CAP_BPF CAP_PERFMON: exit status $rc: $(cat /tmp/caps.err)"
rc=$(try "CAP_BPF CAP_SYS_ADMIN")
[ "$rc" = 0 ] || fail "CAP_BPF CAP_SYS_ADMIN: exit status $rc: $(cat /tmp/caps.err)"
rc=$(try "CAP_BPF")
[ "$rc" = 7 ] || fail "CAP_BPF alone: exit status $rc, not 7: $(cat /tmp/caps.err)"
grep -q CAP_PERFMON /tmp/caps.err || fail "the refusal does not name CAP_PERFMON: $(cat /tmp/caps.err)"
# The units' exposure as the guest's own systemd rates them (the host's
# systemd-analyze rates the unit files in tests/systemd_units.rs).
for unit in scxpack@fair.service scxpack.service; do
  fact "exposure_$unit" "$(systemd-analyze security --no-pager "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')"
done
