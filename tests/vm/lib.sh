# The boot harness (source it after tests/integration/lib.sh): boots vmimage's
# disks in a QEMU microVM with Debian's own kernel and tests/vm/init, and reads
# back how the image's program ended.
#
#   vm_prepare [SUITE]        kernel (fetch_kernel.sh) and initramfs, cached in
#                             $VMIMAGE_VM_CACHE (default /var/tmp/vmimage-vm)
#   vm_plan INSPECT.json ARGS plan.py's base64 plan for the kernel command line
#   vm_boot NAME PLAN [--microvm] [--kernel SUITE] ro:DISK|rw:DISK...
#                             boots; the console goes to $WORK/NAME.console; sets
#                             VM_STATUS (the program's exit status) or VM_ERROR
#                             (what the guest's init could not do); returns 1
#                             if the guest said neither (crash, hang: timeout)
#   vm_output NAME            the console lines the program printed
# Disks attach in order as /dev/vda, vdb, ...: virtio-blk over PCI, or over
# virtio-mmio with --microvm (QEMU's -M microvm, the transport Firecracker uses).
# KVM is used where a probe boot shows it works (nested KVM may hang), else TCG.
VM_DIR="$VMIMAGE_SOURCE_DIR/tests/vm"
VM_CACHE=${VMIMAGE_VM_CACHE:-/var/tmp/vmimage-vm}
VM_TIMEOUT=${VM_TIMEOUT:-180}  # a safety guard against a hung guest, not a speed limit

# _vm_locked CMD...: runs CMD holding the cache's lock (tests run in parallel).
_vm_locked() {
  mkdir -p "$VM_CACHE"
  (
    flock 9
    "$@"
  ) 9>"$VM_CACHE/lock"
}

_vm_kernel() {
  local suite=$1 dir=$2
  [[ -f $dir/complete && $(cat "$dir/complete") == $(sha256sum "$VM_DIR/fetch_kernel.sh" | cut -d' ' -f1) ]] &&
    return 0
  "$VM_DIR/fetch_kernel.sh" "$suite" "$dir"
}

_vm_initramfs() {
  local kernel=$1 out=$2
  [[ -f $out ]] || "$VM_DIR/make_initramfs.sh" "$kernel" "$out"
}

# _vm_probe_kvm: "kvm" when a KVM boot reaches the init, else "tcg"; once per
# host boot, QEMU and kernel.
_vm_probe_kvm() {
  local key result
  key=$(cat /proc/sys/kernel/random/boot_id)-$(qemu-system-x86_64 --version | head -n 1 | tr -c 'a-zA-Z0-9.\n' _)
  result=$VM_CACHE/accel-$key
  if [[ ! -f $result ]]; then
    local accel=tcg
    if [[ -r /dev/kvm && -w /dev/kvm ]] &&
      timeout 20 qemu-system-x86_64 -accel kvm -cpu host -nodefaults -no-user-config -display none \
        -serial stdio -no-reboot -m 256 -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
        -append "console=ttyS0 panic=-1 quiet" </dev/null 2>/dev/null | grep -q 'VMIMAGE-ERROR'; then
      accel=kvm
    fi
    echo "$accel" >"$result"
  fi
  cat "$result"
}

vm_prepare() {
  local suite=${1:-bookworm}
  local name=${suite%-security}
  local kernel=$VM_CACHE/kernel-$name
  _vm_locked _vm_kernel "$suite" "$kernel" || fail "fetching the $suite kernel failed"
  local key
  key=$(cat "$kernel/version" "$VM_DIR/init" "$VM_DIR/guest_exec.c" "$VM_DIR/make_initramfs.sh" |
    sha256sum | cut -c1-16)
  VM_KERNEL=$kernel/vmlinuz
  VM_INITRD=$VM_CACHE/initramfs-$name-$key.gz
  _vm_locked _vm_initramfs "$kernel" "$VM_INITRD" || fail "building the initramfs for $suite failed"
  if [[ -z ${VM_ACCEL:-} ]]; then
    VM_ACCEL=$(_vm_locked _vm_probe_kvm)
    log "guest kernel $(cat "$kernel/version"), accelerator $VM_ACCEL"
  fi
}

vm_plan() { python3 "$VM_DIR/plan.py" "$@"; }

vm_boot() {
  local name=$1 plan=$2
  shift 2
  local machine=(-M pc) device=virtio-blk-pci suite=bookworm
  local disks=() i=0
  while [[ $# -gt 0 ]]; do
    case $1 in
      --microvm) machine=(-M microvm) device=virtio-blk-device ;;
      --kernel) suite=$2; shift ;;
      ro:* | rw:*)
        local ro=off
        [[ $1 == ro:* ]] && ro=on
        disks+=(-drive "file=${1#*:},format=raw,if=none,id=d$i,readonly=$ro,cache=unsafe"
          -device "$device,drive=d$i")
        i=$((i + 1)) ;;
      *) fail "vm_boot: unknown argument $1" ;;
    esac
    shift
  done
  vm_prepare "$suite"
  local accel=(-accel tcg)
  [[ $VM_ACCEL == kvm ]] && accel=(-accel kvm -cpu host)
  # -M microvm has no HPET or ACPI PM timer: under TCG on a busy host the
  # kernel's TSC calibration against the PIT can fail and the boot hang (seen
  # here: 2 of 4 boots with both cores loaded). The TSC runs at the host's rate
  # under TCG, so the guest is told it, as Firecracker's kvm-clock would.
  local clock=""
  if [[ ${machine[1]} == microvm ]]; then
    local khz
    khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
    [[ -n $khz && $khz -gt 0 ]] && clock="tsc_early_khz=$khz tsc=reliable "
  fi
  local console=$WORK/$name.console
  log "boot $name: ${machine[1]}, kernel $(cat "${VM_KERNEL%/*}/version"), $i disks"
  timeout "$VM_TIMEOUT" qemu-system-x86_64 "${machine[@]}" "${accel[@]}" -nodefaults -no-user-config \
    -display none -serial stdio -no-reboot -m 512 -smp 1 \
    -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
    -append "console=ttyS0 panic=-1 quiet ${clock}vmimage.plan=$plan" \
    "${disks[@]}" </dev/null >"$console" 2>&1 || true
  VM_STATUS=$(tr -d '\r' <"$console" | sed -n 's/^VMIMAGE-EXIT \([0-9]*\)$/\1/p' | tail -n 1)
  VM_ERROR=$(tr -d '\r' <"$console" | sed -n 's/^VMIMAGE-ERROR //p' | tail -n 1)
  [[ -n $VM_STATUS || -n $VM_ERROR ]] && return 0
  echo "--- console of $name (no VMIMAGE-EXIT or VMIMAGE-ERROR line):" >&2
  tail -n 30 "$console" >&2
  return 1
}

# vm_expect_exit NAME STATUS: the last boot ran the program and it exited STATUS.
vm_expect_exit() {
  [[ -z $VM_ERROR ]] || { tail -n 30 "$WORK/$1.console" >&2; fail "$1: the guest failed: $VM_ERROR"; }
  [[ $VM_STATUS == "$2" ]] || { tail -n 30 "$WORK/$1.console" >&2; fail "$1: the program exited $VM_STATUS, expected $2"; }
}

# vm_output NAME: what the program printed (the console without the kernel's lines).
vm_output() {
  grep -v -e '^\[ *[0-9]*\.[0-9]*\]' -e '^VMIMAGE-' "$WORK/$1.console" | tr -d '\r'
}
