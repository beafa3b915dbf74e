#!/usr/bin/env bash
# A second, throwaway Docker daemon (Docker Engine 29, built from the moby v2
# Go module) with Docker's containerd image store, beside the host's daemon,
# for the test of loadImages on that store (tests/composition/containerd-store.test.ts).
# Debian's Docker here is 20.10, which has no containerd image store.
#
#   testbed/docker29.sh build          build dockerd + docker-proxy (cached); prints the bin directory
#   testbed/docker29.sh start <parts>  start it (own containerd from the parts' bin/); prints DOCKER_HOST=…
#   testbed/docker29.sh stop           stop it and remove everything it made
#
# Kept apart from the host daemon: its own data-root, exec-root, socket and
# containerd; cgroup parent k3sbox-docker29; its own bridge (never docker0,
# never --bridge=none: moby then deletes docker0); iptables off, so it never
# touches the host's firewall (its containers reach the host and are reached
# through published ports, but not each other: the host daemon's FORWARD
# policy drops bridged traffic). It always starts from an empty data-root: a
# stale one with an address pool also makes moby delete docker0.
set -euo pipefail

MOBY_MODULE=github.com/moby/moby/v2
MOBY_VERSION=v2.0.0-beta.24  # Docker Engine 29.x
D29_DIR=/tmp/k3sbox-docker29
D29_PARTS_BIN=""  # containerd, shim, runc: <parts>/bin (testbed/parts.sh)
D29_BRIDGE=k3sbox29
D29_BRIDGE_CIDR=10.213.0.1/24  # the default "bridge" network (inside the pool)
D29_POOL=10.213.0.0/16  # user-defined networks
D29_POOL_SIZE=24
# Absolute (from the hierarchy root): relative, it would sit below dockerd's own cgroup,
# which a node inside may not see in its /sys/fs/cgroup (this sandbox places processes so).
D29_CGROUP_PARENT=k3sbox-docker29
D29_START_TIMEOUT=90

SOCK="$D29_DIR/docker.sock"
DATA="$D29_DIR/data"
EXEC="$D29_DIR/exec"
CTRD="$D29_DIR/containerd"
CTRD_SOCK="$CTRD/containerd.sock"
PIDFILE="$D29_DIR/docker.pid"
CTRD_PIDFILE="$D29_DIR/containerd.pid"
LOGS="$D29_DIR/logs"
CONF="$D29_DIR/daemon.json"
CTRD_CONF="$D29_DIR/containerd.toml"

log() { printf 'docker29: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CACHE_DIR=$HOME/.cache/k3sbox/docker29-$MOBY_VERSION
BIN="$CACHE_DIR/bin"

# ---------------------------------------------------------------- build
cmd_build() {
	if [[ -x $BIN/dockerd && -x $BIN/docker-proxy && -f $CACHE_DIR/.complete ]]; then
		log "already built: $BIN ($("$BIN/dockerd" --version))"
		return 0
	fi
	command -v go >/dev/null || die "go not found"
	local src="$CACHE_DIR/src"
	rm -rf "$src" "$BIN.tmp"
	mkdir -p "$src" "$BIN.tmp"
	local start=$SECONDS
	(
		cd "$src"
		export GOFLAGS=-mod=mod GOTOOLCHAIN=local
		cat >go.mod <<-EOF
			module k3sbox.local/docker29

			go 1.24
		EOF
		log "resolving $MOBY_MODULE@$MOBY_VERSION"
		nice -n 19 go get -tool "$MOBY_MODULE/cmd/dockerd@$MOBY_VERSION" "$MOBY_MODULE/cmd/docker-proxy@$MOBY_VERSION"
		# moby v2's go.mod has no replace directives today; copy any that appear in future versions.
		local moddir
		moddir=$(go list -m -f '{{.Dir}}' "$MOBY_MODULE")
		if grep -q '^replace\|^[[:space:]]*[^ ]* =>' "$moddir/go.mod"; then
			log "copying replace directives from $MOBY_MODULE go.mod"
			awk '/^replace \(/{f=1} f{print} f&&/^\)/{f=0} /^replace [^(]/{print}' "$moddir/go.mod" >>go.mod
			nice -n 19 go mod tidy
		fi
		# Engine version string: moby v2 betas are cut from Docker release branches;
		# releases/versions.yaml records the last Docker release of the branch.
		local engine_version=""
		if [[ -f $moddir/releases/versions.yaml ]]; then
			engine_version=$(sed -n 's/^[[:space:]]*last:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$moddir/releases/versions.yaml" | head -n1)
		fi
		engine_version=${engine_version:-$MOBY_VERSION}
		local p="$MOBY_MODULE/dockerversion"
		log "building dockerd $engine_version (moby $MOBY_VERSION), this takes a few minutes"
		# Same tags as hack/make.sh, minus cgo-only bits: CGO_ENABLED=0 gives static binaries and
		# needs no C headers (btrfs graphdriver excluded; disk quota falls back to 'unsupported').
		CGO_ENABLED=0 nice -n 19 go build -trimpath \
			-tags "netgo osusergo static_build nri_no_wasm exclude_graphdriver_btrfs exclude_disk_quota" \
			-ldflags "-w -X $p.Version=$engine_version -X $p.GitCommit=moby-$MOBY_VERSION -X $p.PlatformName=k3sbox-docker29 -X $p.BuildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
			-o "$BIN.tmp/" "$MOBY_MODULE/cmd/dockerd" "$MOBY_MODULE/cmd/docker-proxy"
	)
	rm -rf "$BIN"
	mv "$BIN.tmp" "$BIN"
	rm -rf "$src"
	touch "$CACHE_DIR/.complete"
	log "built in $((SECONDS - start))s: $("$BIN/dockerd" --version)"
}

# ---------------------------------------------------------------- helpers
pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
# pid from pidfile, only if that process still runs the expected binary
pid_of() { # pidfile exe-basename
	local pid
	pid=$(cat "$1" 2>/dev/null || true)
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	if pid_alive "$pid" && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */"$2" ]]; then echo "$pid"; fi
}
daemon_up() { [[ -S $SOCK ]] && timeout 10 docker -H "unix://$SOCK" version >/dev/null 2>&1; }

wait_exit() { # pid timeout-seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do pid_alive "$1" || return 0; sleep 0.1; done
	return 1
}
stop_pid() { # pid name timeout
	local pid=$1
	pid_alive "$pid" || return 0
	log "stopping $2 (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_exit "$pid" "$3"; then
		log "$2 did not exit in $3s, killing"
		kill -KILL "$pid" 2>/dev/null || true
		wait_exit "$pid" 10 || log "WARNING: $2 (pid $pid) still alive"
	fi
}

# mount points at or below $D29_DIR, deepest first
our_mounts() {
	awk -v d="$D29_DIR" '{ p=$5; gsub(/\\040/," ",p); if (p==d || index(p, d"/")==1) print p }' /proc/self/mountinfo | sort -r | uniq
}

# pids whose /proc/PID/cmdline mentions our containerd socket or our binaries
our_stray_pids() {
	local p cmd exe
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" ]] && continue
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		case "$exe" in
		*/containerd-shim-runc-v2) [[ $cmd == *"-address $CTRD_SOCK"* ]] && echo "$p" ;;
		"$BIN/docker-proxy" | "$BIN/dockerd") echo "$p" ;;
		*/containerd) [[ $cmd == *"$CTRD_CONF"* ]] && echo "$p" ;;
		esac
	done
}

# Bridges to delete: our default bridge, plus bridges that (a) carry an IPv4 address from our
# pool, (b) are mentioned in our network store (when it still exists) and (c) are not networks
# of the host daemon (when it answers). docker0 is never touched.
our_bridges() {
	local dev cidr db="$DATA/network/files/local-kv.db" host_ids
	host_ids=$(timeout 10 docker -H unix:///var/run/docker.sock network ls -q --no-trunc 2>/dev/null || true)
	{
		ip link show "$D29_BRIDGE" >/dev/null 2>&1 && echo "$D29_BRIDGE"
		ip -o -4 addr show type bridge 2>/dev/null | awk '{print $2, $4}' | while read -r dev cidr; do
			[[ $dev == docker0 || $dev == "$D29_BRIDGE" ]] && continue
			in_pool "${cidr%/*}" || continue
			if [[ -f $db ]] && ! grep -aqF -- "${dev#br-}" "$db"; then continue; fi
			if [[ $dev == br-* && -n $host_ids ]] && grep -q -- "^${dev#br-}" <<<"$host_ids"; then continue; fi
			echo "$dev"
		done
	} | sort -u | grep -vx docker0 || true
}
ip2int() { local IFS=.; set -- $1; echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4)); }
in_pool() {
	local net=${D29_POOL%/*} len=${D29_POOL#*/} a n mask
	a=$(ip2int "$1"); n=$(ip2int "$net")
	mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
	(((a & mask) == (n & mask)))
}

cgroup_cleanup() {
	local d
	for d in /sys/fs/cgroup/*/"$D29_CGROUP_PARENT" /sys/fs/cgroup/"$D29_CGROUP_PARENT"; do
		[[ -d $d ]] || continue
		# depth-first rmdir; cgroupfs dirs can only be removed when empty of tasks
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		[[ -d $d ]] && log "WARNING: cgroup $d still present (tasks left?)"
	done
	return 0
}

# ---------------------------------------------------------------- stop
cmd_stop() {
	local dpid cpid p m
	dpid=$(pid_of "$PIDFILE" dockerd)
	cpid=$(pid_of "$CTRD_PIDFILE" containerd)

	# 1. polite: remove containers + networks through the API so dockerd tears down
	#    veths/bridges/netns/mounts itself.
	if pid_alive "$dpid" && daemon_up; then
		local ids
		ids=$(timeout 30 docker -H "unix://$SOCK" ps -aq 2>/dev/null || true)
		if [[ -n $ids ]]; then
			log "removing containers"
			# shellcheck disable=SC2086
			timeout 120 docker -H "unix://$SOCK" rm -f -v $ids >/dev/null 2>&1 || log "WARNING: docker rm -f failed"
		fi
		timeout 60 docker -H "unix://$SOCK" network prune -f >/dev/null 2>&1 || true
	fi
	# 2. daemons
	stop_pid "$dpid" dockerd 60
	stop_pid "$cpid" containerd 30
	# 3. anything left that belongs to us (shims of our containerd, docker-proxy, ...)
	for p in $(our_stray_pids); do stop_pid "$p" "stray $(readlink /proc/"$p"/exe 2>/dev/null)" 10; done
	# container processes whose shim was killed: they live in our cgroup parent
	local t
	for t in $(find /sys/fs/cgroup/*/"$D29_CGROUP_PARENT" -mindepth 2 -name tasks -exec cat {} + 2>/dev/null | sort -un); do
		log "killing leftover container task $t"; kill -KILL "$t" 2>/dev/null || true
	done
	# 4. mounts (netns bind mounts, shm, overlay rootfs, data-root self bind mount)
	while read -r m; do
		[[ -n $m ]] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "WARNING: could not unmount $m"
	done < <(our_mounts)
	while read -r m; do [[ -n $m ]] && { umount -l "$m" 2>/dev/null || true; }; done < <(our_mounts)
	if [[ -n $(our_mounts) ]]; then
		die "mounts left under $D29_DIR, refusing to delete state: $(our_mounts | tr '\n' ' ')"
	fi
	# 5. network: our default bridge + any bridge with an address from our pool (leftover br-*)
	local b
	for b in $(our_bridges); do
		log "deleting bridge $b"
		ip link del "$b" 2>/dev/null || log "WARNING: could not delete $b"
	done
	cgroup_cleanup
	# 6. state (never the recipe itself)
	rm -rf --one-file-system "$DATA" "$EXEC" "$CTRD" "$SOCK" "$PIDFILE" "$CTRD_PIDFILE" "$CONF" "$CTRD_CONF"
	rm -rf "$LOGS"
	log "stopped and cleaned up"
}

# ---------------------------------------------------------------- start
cmd_start() {
	if pid_alive "$(pid_of "$PIDFILE" dockerd)" && daemon_up; then
		log "already running"; cmd_env; return 0
	fi
	cmd_build
	local b
	for b in containerd containerd-shim-runc-v2 runc; do
		[[ -x $D29_PARTS_BIN/$b ]] || die "$D29_PARTS_BIN/$b missing"
	done
	# Always start from scratch: a stale data-root (default "bridge" network in local-kv.db)
	# combined with default-address-pools makes moby delete the docker0 interface on startup.
	cmd_stop
	mkdir -p "$D29_DIR" "$LOGS" "$DATA" "$EXEC" "$CTRD"

	# bridge for the default network
	if ! ip link show "$D29_BRIDGE" >/dev/null 2>&1; then
		ip link add "$D29_BRIDGE" type bridge
	fi
	ip addr replace "$D29_BRIDGE_CIDR" dev "$D29_BRIDGE"
	ip link set "$D29_BRIDGE" up

	local path="$BIN:$D29_PARTS_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

	cat >"$CTRD_CONF" <<-EOF
		version = 3
		root = "$CTRD/root"
		state = "$CTRD/state"
		imports = []
		disabled_plugins = [
		  "io.containerd.grpc.v1.cri",
		  "io.containerd.cri.v1.images",
		  "io.containerd.cri.v1.runtime",
		  "io.containerd.podsandbox.controller.v1.podsandbox",
		  "io.containerd.nri.v1.nri",
		]
		[grpc]
		  address = "$CTRD_SOCK"
		[ttrpc]
		  address = "$CTRD_SOCK.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$CTRD/opt"
	EOF
	log "starting containerd ($("$D29_PARTS_BIN/containerd" --version | awk '{print $3}'))"
	env -i PATH="$path" HOME="$HOME" setsid "$D29_PARTS_BIN/containerd" --config "$CTRD_CONF" \
		</dev/null >>"$LOGS/containerd.log" 2>&1 9>&- &
	echo $! >"$CTRD_PIDFILE"
	local i
	for ((i = 0; i < D29_START_TIMEOUT * 2; i++)); do
		"$D29_PARTS_BIN/ctr" --address "$CTRD_SOCK" version >/dev/null 2>&1 && break
		pid_alive "$(cat "$CTRD_PIDFILE")" || { tail -n 30 "$LOGS/containerd.log" >&2; die "containerd exited"; }
		sleep 0.5
	done
	"$D29_PARTS_BIN/ctr" --address "$CTRD_SOCK" version >/dev/null 2>&1 || die "containerd did not come up"

	cat >"$CONF" <<-EOF
		{
		  "hosts": ["unix://$SOCK"],
		  "data-root": "$DATA",
		  "exec-root": "$EXEC",
		  "pidfile": "$PIDFILE",
		  "containerd": "$CTRD_SOCK",
		  "iptables": false,
		  "ip6tables": false,
		  "ip-masq": false,
		  "bridge": "$D29_BRIDGE",
		  "default-address-pools": [{"base": "$D29_POOL", "size": $D29_POOL_SIZE}],
		  "cgroup-parent": "/$D29_CGROUP_PARENT",
		  "exec-opts": ["native.cgroupdriver=cgroupfs"],
		  "userland-proxy": true,
		  "userland-proxy-path": "$BIN/docker-proxy",
		  "features": {"containerd-snapshotter": true},
		  "live-restore": false
		}
	EOF
	log "starting $("$BIN/dockerd" --version)"
	# env -i: no DOCKER_HOST/DOCKER_DRIVER/NOTIFY_SOCKET etc. leaking in from the caller
	env -i PATH="$path" HOME="$HOME" setsid "$BIN/dockerd" --config-file "$CONF" \
		</dev/null >>"$LOGS/dockerd.log" 2>&1 9>&- &
	local dpid=$!
	for ((i = 0; i < D29_START_TIMEOUT * 2; i++)); do
		daemon_up && break
		pid_alive "$dpid" || { tail -n 30 "$LOGS/dockerd.log" >&2; die "dockerd exited"; }
		sleep 0.5
	done
	daemon_up || { tail -n 30 "$LOGS/dockerd.log" >&2; die "dockerd did not come up in ${D29_START_TIMEOUT}s"; }
	log "up: $(docker -H "unix://$SOCK" version --format 'server {{.Server.Version}} API {{.Server.APIVersion}}')"
	cmd_env
}

cmd_env() { echo "DOCKER_HOST=unix://$SOCK"; }

[[ $(id -u) == 0 ]] || die "must run as root"
case "${1:-}" in
start)
	D29_PARTS_BIN="${2:?usage: $0 start <parts dir> (testbed/parts.sh)}/bin"
	;&
stop)
	# Starts and stops of several callers take turns; the lock file lives next to the state.
	mkdir -p "$D29_DIR"
	exec 9>"$D29_DIR/.lock"
	flock -w 300 9 || die "could not get lock $D29_DIR/.lock"
	;;
esac
case "${1:-}" in
build) cmd_build >&2; echo "$BIN" ;;
start) cmd_start ;;
stop) cmd_stop ;;
*) echo "usage: $0 build | start <parts dir> | stop" >&2; exit 2 ;;
esac
