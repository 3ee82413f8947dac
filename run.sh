#!/usr/bin/env bash
# MEP on one node, for a newcomer and for CI.
#
#   ./run.sh              build, start a private RabbitMQ node, the launcher (root) and the silo; stay in the
#                         foreground; Ctrl-C stops everything it started
#   ./run.sh test         run every test (as root: the end-to-end tests create Unix users; a single-node Slurm
#                         cluster is installed and started for them, see scripts/slurm-node, and a private
#                         PostgreSQL server, see scripts/postgres-node)
#   ./run.sh cluster [N]  N login nodes on this machine (default 3): a private PostgreSQL, RabbitMQ and N silo+launcher
#                         pairs named node1..nodeN, each with its own ports; see scripts/run-cluster.sh; Ctrl-C stops all
#   ./run.sh demo         start the site, submit `id -un` as two identities, print both results, stop
#   ./run.sh mep ARGS     the mep CLI against this site (rebuilt only when sources changed)
#   ./run.sh install [--destdir DIR] [--from DIR] [--no-reload]
#                         as root: the programs into /opt/mep, config into /etc/mep, the systemd units, the
#                         service account, systemctl daemon-reload (idempotent; --destdir stages under DIR)
#   ./run.sh bench [QUICK] [ARGS]
#                         the issue-9 harness (mep-bench site) against a private site it starts and stops: UEP
#                         creation, strong scaling, warm latency, throughput, footprint, cold-start breakdown, each
#                         with a same-run baseline; CSV, Markdown and PNG plots in bench/results/ (see bench/README.md)
#   ./run.sh bench-streams [ARGS]
#                         events/s through the RabbitMQ stream provider vs raw RabbitMQ, on a private node of its
#                         own (deleted after); results in bench/results/; ARGS go to `mep-bench streams` (--help)
#
# Settings (environment): MEP_HOME (runtime directory, default .run/), MEP_API_PORT (8480),
# MEP_AMQP_PORT (5682), MEP_MGMT_PORT (15682), MEP_SERVICE_ACCOUNT (mep),
# MEP_BENCH_AMQP_PORT (5692), MEP_BENCH_MGMT_PORT (15692), MEP_TEST_PG_PORT (5742: the tests' PostgreSQL).
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
API_PORT=${MEP_API_PORT:-8480}
AMQP_PORT=${MEP_AMQP_PORT:-5682}
MGMT_PORT=${MEP_MGMT_PORT:-15682}
SERVICE_ACCOUNT=${MEP_SERVICE_ACCOUNT:-mep}
BENCH_AMQP_PORT=${MEP_BENCH_AMQP_PORT:-5692}
BENCH_MGMT_PORT=${MEP_BENCH_MGMT_PORT:-15692}
TEST_PG_PORT=${MEP_TEST_PG_PORT:-5742}
EXAMPLE_ENDPOINT_ID=6a1f3c52-8d0e-4b7a-9c39-2f5e1d7b4a10
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { printf '\033[1mrun.sh:\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
is_root() { (( EUID == 0 )); }

# The runtime directory holds programs that the service account and every mapped user must be able to run,
# so it must be reachable by others. A checkout inside a private directory (mktemp -d, /root) gets one under
# /var/lib/mep-dev instead, named after the checkout so two checkouts never share it.
choose_home() {
    if [[ -n "${MEP_HOME:-}" ]]; then
        HOME_DIR=$MEP_HOME
    elif reachable_by_others "$REPO"; then
        HOME_DIR=$REPO/.run
    else
        HOME_DIR=/var/lib/mep-dev/$(printf '%s' "$REPO" | sha256sum | cut -c1-12)
    fi
    mkdir -p "$HOME_DIR"
    HOME_DIR=$(cd "$HOME_DIR" && pwd -P)
    chmod 0755 "$HOME_DIR"
    BIN=$HOME_DIR/bin
    LOG=$HOME_DIR/log
    mkdir -p "$BIN" "$LOG"
}

reachable_by_others() {
    local d=$1
    while [[ "$d" != / && -n "$d" ]]; do
        [[ $(( 0$(stat -c '%a' "$d") & 01 )) -ne 0 ]] || return 1
        d=$(dirname "$d")
    done
}

ensure_packages() {
    local missing=()
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
    command -v curl >/dev/null || missing+=(curl)
    [[ -x /usr/bin/python3 ]] || missing+=(python3)
    # Native AOT publishing (mep-endpoint, mep-launcher) links with clang, or gcc when there is no clang.
    command -v clang >/dev/null || command -v gcc >/dev/null || missing+=(gcc)
    (( ${#missing[@]} == 0 )) && return 0
    is_root || die "missing packages: ${missing[*]} (install them, or run as root)"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$LOG/apt.log" 2>&1 || {
        apt-get update >>"$LOG/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1
    } || die "apt-get install ${missing[*]} failed: see $LOG/apt.log"
    # The package may start its own system node; ours runs privately, so leave the system one alone but quiet.
}

# Publishes one program into $BIN/NAME unless nothing under its sources changed since the last publish. The projects
# decide how: mep-endpoint and mep-launcher set PublishAot (a native binary, no runtime to load: every UEP start runs
# both), the others publish framework-dependent. A fresh directory each time, so no file of an earlier publish (a JIT
# build's dll beside a native binary) stays behind; running UEPs keep the files they have open.
publish() {
    local project=$1 name=$2 stamp=$BIN/.$2.stamp
    if [[ -f "$stamp" ]] && [[ -z $(find "$REPO" -path "$REPO/.run" -prune -o -path '*/bin' -prune -o -path '*/obj' -prune -o \
        \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' -o -name '*.py' \) -newer "$stamp" -print -quit) ]]; then
        return 0
    fi
    say "building $name"
    rm -rf -- "$BIN/$name.partial"
    dotnet publish "$REPO/$project" -c Release -o "$BIN/$name.partial" --nologo -v quiet >"$LOG/build-$name.log" 2>&1 ||
        { tail -n 30 "$LOG/build-$name.log" >&2; die "build of $name failed: see $LOG/build-$name.log"; }
    chmod -R a+rX "$BIN/$name.partial"
    rm -rf -- "$BIN/$name"
    mv -- "$BIN/$name.partial" "$BIN/$name"
    touch "$stamp"
}

build_all() {
    publish Silo/Mep.Silo.csproj silo
    publish Launcher/Mep.Launcher.csproj launcher
    publish Endpoint/Mep.Endpoint.csproj endpoint
    publish Cli/Mep.Cli.csproj mep
}

ensure_service_account() {
    is_root || return 0
    id -u "$SERVICE_ACCOUNT" >/dev/null 2>&1 && return 0
    say "creating service account $SERVICE_ACCOUNT"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SERVICE_ACCOUNT"
}

# The development token key (ES256, made by `mep token key create` on first start): the private key stays root's,
# the silo trusts its public half through the JWKS file next to it. Prints the JWKS path.
signing_key() {
    local key=$HOME_DIR/token-signing.key jwks=$HOME_DIR/token-signing.key.jwks.json
    # A shared HS256 key of an older MEP (no PEM), or a key whose JWKS is gone: run.sh made it, so it replaces it.
    if [[ -e "$key" ]] && { ! grep -q -- '-----BEGIN' "$key" || [[ ! -s "$jwks" ]]; }; then
        say "replacing the old development token key $key (tokens signed with it stop working)"
        rm -f -- "$key" "$jwks"
    fi
    if [[ ! -e "$key" ]]; then
        "$BIN/mep/mep" token key create "$key" --jwks "$jwks" >/dev/null || die "could not create the development token key $key"
    fi
    # Private key: root only (it issues dev tokens). JWKS: root writes it, the silo's account reads it.
    if is_root; then
        chown root:root "$key" && chmod 0600 "$key"
        chown "root:$SERVICE_ACCOUNT" "$jwks" && chmod 0640 "$jwks"
    fi
    echo "$jwks"
}

# AMQPS and https only (no plain listener): the node gets a certificate from the site's CA, and the silo, the UEPs
# and their workers verify it against that CA (Mep:Broker:CaFile, passed on in each UEP's start document).
start_rabbitmq() {
    ensure_tls
    say "starting RabbitMQ (amqps 127.0.0.1:$AMQP_PORT, management https 127.0.0.1:$MGMT_PORT)"
    RABBITMQ_TLS_CA=$CA_FILE RABBITMQ_TLS_CERT=$TLS_DIR/server.pem RABBITMQ_TLS_KEY=$TLS_DIR/server.key \
        "$REPO/scripts/rabbitmq-node" start "$HOME_DIR/rabbitmq" "$AMQP_PORT" "$MGMT_PORT" >>"$LOG/rabbitmq.log" 2>&1 ||
        { tail -n 20 "$LOG/rabbitmq.log" >&2; die "RabbitMQ did not start"; }
    "$REPO/scripts/rabbitmq-node" wait "$HOME_DIR/rabbitmq" 120 >>"$LOG/rabbitmq.log" 2>&1 ||
        { tail -n 20 "$LOG/rabbitmq.log" >&2; die "RabbitMQ did not come up in time: see $HOME_DIR/rabbitmq/log"; }
    # The silo reads the admin password from a file only its account can read.
    install -m 0600 /dev/null "$HOME_DIR/broker-admin-password"
    cat "$HOME_DIR/rabbitmq/admin-password" >"$HOME_DIR/broker-admin-password"
    if is_root; then chown "$SERVICE_ACCOUNT:" "$HOME_DIR/broker-admin-password"; fi
}

start_launcher() { # [SOCKET STATE_DIR LOG_NAME]: defaults are the single node's
    local client=$SERVICE_ACCOUNT socket=${1:-$HOME_DIR/launcher.sock} state=${2:-$HOME_DIR/launcher-state} log=${3:-launcher}
    is_root || client=$(id -un)
    say "starting the launcher (socket $socket)"
    "$BIN/launcher/mep-launcher" \
        --Launcher:SocketPath="$socket" \
        --Launcher:UepProgram="$BIN/endpoint/mep-endpoint" \
        --Launcher:ClientUser="$client" \
        --Launcher:StateDirectory="$state" \
        >>"$LOG/$log.log" 2>&1 &
    LAUNCHER_PID=$!
    wait_for "the launcher" 30 test -S "$socket"
}

# The site's private CA and the node's certificate for the API and, as a client too, between silos (`mep tls init`: made
# on first start, kept after, issued again when a name or clientAuth is missing or it nears expiry). The CA key stays root's; the silo's account reads the server key.
# Clients trust the CA through MEP_CA_FILE (mep_cli sets it); the broker gets a certificate from it too.
ensure_tls() {
    [[ -z "${TLS_DIR:-}" ]] || return 0
    TLS_DIR=$HOME_DIR/tls
    CA_FILE=$TLS_DIR/ca.pem
    "$BIN/mep/mep" tls init "$TLS_DIR" >>"$LOG/tls.log" 2>&1 || { tail -n 5 "$LOG/tls.log" >&2; die "mep tls init $TLS_DIR failed"; }
    chmod 0755 "$TLS_DIR"
    if is_root; then
        chown root:root "$TLS_DIR/ca.key"
        chown "$SERVICE_ACCOUNT:" "$TLS_DIR/server.key"
    fi
}

# The example endpoint and the token key's JWKS, which every silo of this checkout serves and trusts.
prepare_silo_files() {
    ensure_tls
    SILO_JWKS=$(signing_key)
    rm -rf "$HOME_DIR/endpoints/example"
    mkdir -p "$HOME_DIR/endpoints"
    cp -r "$REPO/examples/endpoint" "$HOME_DIR/endpoints/example"
    chmod -R a+rX "$HOME_DIR/endpoints"
}

start_silo() {
    prepare_silo_files
    run_silo "$HOME_DIR/data" "$HOME_DIR/launcher.sock" "$API_PORT" silo
}

run_silo() { # DATA_DIR LAUNCHER_SOCKET API_PORT LOG_NAME [EXTRA_ARGS...]: the silo in the background, waits for health
    local data=$1 socket=$2 port=$3 log=$4; shift 4
    mkdir -p "$data"
    chmod 0700 "$data"
    if is_root; then chown "$SERVICE_ACCOUNT:" "$data"; fi
    say "starting the silo (API https://127.0.0.1:$port)"
    "$BIN/silo/mep-silo" \
        --Mep:RunAs="$SERVICE_ACCOUNT" \
        --Mep:DataDirectory="$data" \
        --Mep:Endpoints:0="$HOME_DIR/endpoints/example" \
        --Mep:LauncherSocket="$socket" \
        --Mep:Auth:Issuers:0:Issuer=mep \
        --Mep:Auth:Issuers:0:JwksFile="$SILO_JWKS" \
        --Mep:Auth:Issuers:0:Audiences:0=mep \
        --Mep:Auth:Issuers:0:IdentitySetClaim=identity_set \
        --Mep:Api:Urls="https://127.0.0.1:$port" \
        --Mep:Tls:CertificateFile="$TLS_DIR/server.pem" \
        --Mep:Tls:KeyFile="$TLS_DIR/server.key" \
        --Mep:Cluster:Tls:CertificateFile="$TLS_DIR/server.pem" \
        --Mep:Cluster:Tls:KeyFile="$TLS_DIR/server.key" \
        --Mep:Cluster:Tls:CaFile="$CA_FILE" \
        --Mep:SiteAdmins:0=admin@example.org \
        --Mep:Dashboard=true \
        --Mep:Broker:Host=127.0.0.1 \
        --Mep:Broker:AmqpPort="$AMQP_PORT" \
        --Mep:Broker:ManagementPort="$MGMT_PORT" \
        --Mep:Broker:AdminUser=admin \
        --Mep:Broker:AdminPasswordFile="$HOME_DIR/broker-admin-password" \
        --Mep:Broker:CaFile="$CA_FILE" \
        "$@" \
        >>"$LOG/$log.log" 2>&1 &
    SILO_PID=$!
    wait_for "the silo" 120 curl -fsS --cacert "$CA_FILE" -o /dev/null "https://127.0.0.1:$port/readyz" ||
        { tail -n 30 "$LOG/$log.log" >&2; die "the silo did not come up: see $LOG/$log.log"; }
}

wait_for() { # WHAT SECONDS CMD...: poll CMD until it succeeds or the deadline passes
    local what=$1 deadline=$((SECONDS + $2)); shift 2
    until "$@" >/dev/null 2>&1; do
        if [[ -n "${SILO_PID:-}" ]] && ! kill -0 "$SILO_PID" 2>/dev/null; then return 1; fi
        (( SECONDS < deadline )) || { say "$what did not come up in time"; return 1; }
        sleep 0.2
    done
}

stop_site() {
    trap - INT TERM EXIT
    say "stopping"
    [[ -n "${SILO_PID:-}" ]] && kill "$SILO_PID" 2>/dev/null && wait "$SILO_PID" 2>/dev/null || true
    [[ -n "${LAUNCHER_PID:-}" ]] && kill "$LAUNCHER_PID" 2>/dev/null && wait "$LAUNCHER_PID" 2>/dev/null || true
    # User endpoints outlive a launcher restart by design; this script started them, so it ends them.
    pkill -TERM -f "^$BIN/endpoint/mep-endpoint" 2>/dev/null || true
    "$REPO/scripts/rabbitmq-node" stop "$HOME_DIR/rabbitmq" >>"$LOG/rabbitmq.log" 2>&1 || true
}

start_site() {
    ensure_packages
    build_all
    ensure_service_account
    trap stop_site INT TERM EXIT
    start_rabbitmq
    start_launcher
    start_silo
}

mep_cli() {
    MEP_URL=${MEP_URL:-https://127.0.0.1:$API_PORT} MEP_CA_FILE=${MEP_CA_FILE:-$HOME_DIR/tls/ca.pem} \
        MEP_TOKEN_KEY_FILE=${MEP_TOKEN_KEY_FILE:-$HOME_DIR/token-signing.key} \
        "$BIN/mep/mep" "$@"
}

cmd_run() {
    start_site
    cat >&2 <<EOF

  MEP is up: endpoint $EXAMPLE_ENDPOINT_ID (examples/endpoint), API https://127.0.0.1:$API_PORT (CA: $CA_FILE)
  From another terminal (./run.sh mep sets MEP_URL and MEP_CA_FILE for this site):
    export MEP_TOKEN=\$(./run.sh mep token issue --identity alice@example.org)
    F=\$(./run.sh mep function register-shell --command 'id -un')
    ./run.sh mep submit --endpoint $EXAMPLE_ENDPOINT_ID --function \$F
  (alice@example.org and bob@example.org map to local accounts mep-alice and mep-bob: ./run.sh demo creates them.)
  Logs: $LOG   Ctrl-C stops everything.

EOF
    wait "$SILO_PID"
}

cmd_demo() {
    is_root || die "the demo creates Unix users: run it as root"
    for user in mep-alice mep-bob; do
        id -u "$user" >/dev/null 2>&1 || { useradd --create-home --shell /bin/bash "$user"; say "created demo user $user"; }
    done
    start_site
    local fn alice bob
    alice=$(mep_cli token issue --identity alice@example.org)
    bob=$(mep_cli token issue --identity bob@example.org)
    fn=$(mep_cli --token "$alice" function register-shell --command 'id -un' --name whoami)
    for token in "$alice" "$bob"; do
        mep_cli --token "$token" submit --endpoint "$EXAMPLE_ENDPOINT_ID" --function "$fn" --timeout 3m
    done
}

# The Slurm tests need a cluster: a single-node one on this machine (scripts/slurm-node; idempotent, a few seconds
# when it already runs). Needs root; the tests start it themselves too, so this only moves the wait up front.
ensure_slurm() {
    is_root || return 0
    say "starting the single-node Slurm cluster (log: $LOG/slurm.log)"
    { "$REPO/scripts/slurm-node" install && "$REPO/scripts/slurm-node" start; } >>"$LOG/slurm.log" 2>&1 ||
        { tail -n 20 "$LOG/slurm.log" >&2; die "Slurm did not start: see $LOG/slurm.log"; }
}

# The PostgreSQL tests share one private server (scripts/postgres-node) in $HOME_DIR/postgres-test, found through
# MEP_TEST_POSTGRES_DIR; each test makes and drops a database of its own in it. Stopped when the tests end. TLS only,
# with this checkout's CA (connection strings: SSL Mode=VerifyFull), as a cluster's database is reached.
ensure_test_postgres() {
    local dir=$HOME_DIR/postgres-test
    say "starting the tests' PostgreSQL server (127.0.0.1:$TEST_PG_PORT, log: $LOG/postgres.log)"
    { "$REPO/scripts/postgres-node" install && start_postgres "$dir" "$TEST_PG_PORT"; } >>"$LOG/postgres.log" 2>&1 ||
        { tail -n 20 "$LOG/postgres.log" >&2; die "PostgreSQL did not start: see $LOG/postgres.log (another port: MEP_TEST_PG_PORT)"; }
    export MEP_TEST_POSTGRES_DIR=$dir
    trap stop_test_postgres EXIT
}

start_postgres() { # DIR PORT: a private server serving TLS with the site's certificate (ensure_tls)
    POSTGRES_TLS_CA=$CA_FILE POSTGRES_TLS_CERT=$TLS_DIR/server.pem POSTGRES_TLS_KEY=$TLS_DIR/server.key \
        "$REPO/scripts/postgres-node" start "$1" "$2"
}

stop_test_postgres() {
    "$REPO/scripts/postgres-node" stop "$HOME_DIR/postgres-test" >>"$LOG/postgres.log" 2>&1 || true
}

cmd_test() {
    ensure_packages
    is_root || say "not root: the end-to-end tests need root and will fail"
    ensure_slurm
    publish Cli/Mep.Cli.csproj mep
    ensure_tls
    ensure_test_postgres
    # The tests run the Native AOT mep-endpoint and mep-launcher as run.sh publishes them for a site, not the JIT
    # build the solution makes (Tests/Infrastructure/PublicPrograms.cs).
    publish Endpoint/Mep.Endpoint.csproj endpoint
    publish Launcher/Mep.Launcher.csproj launcher
    export MEP_TEST_PUBLISHED_PROGRAMS=$BIN
    dotnet test "$REPO/Orleans.sln" --nologo "$@"
}

# The benchmark gets a node of its own in a fresh directory, so that no state of the site's node (or of an
# earlier run) can change its figures, and so that it can run while the site is up.
cmd_bench_streams() {
    ensure_packages
    publish bench/Mep.Bench.csproj bench
    BENCH_NODE=$(mktemp -d "${TMPDIR:-/tmp}/mep-bench-rabbitmq.XXXXXX")
    trap stop_bench_node INT TERM EXIT
    say "starting RabbitMQ for the benchmark (amqp 127.0.0.1:$BENCH_AMQP_PORT, management 127.0.0.1:$BENCH_MGMT_PORT)"
    { "$REPO/scripts/rabbitmq-node" start "$BENCH_NODE" "$BENCH_AMQP_PORT" "$BENCH_MGMT_PORT" &&
        "$REPO/scripts/rabbitmq-node" wait "$BENCH_NODE" 120; } >>"$LOG/bench-rabbitmq.log" 2>&1 ||
        { tail -n 20 "$LOG/bench-rabbitmq.log" >&2; die "the benchmark's RabbitMQ did not start: see $LOG/bench-rabbitmq.log"; }
    local results=(--results "$REPO/bench/results") arg
    for arg in "$@"; do [[ "$arg" == --results* ]] && results=(); done
    "$BIN/bench/mep-bench" streams --amqp-port "$BENCH_AMQP_PORT" --mgmt-port "$BENCH_MGMT_PORT" \
        --user admin --password-file "$BENCH_NODE/admin-password" "${results[@]}" "$@"
}

stop_bench_node() {
    trap - INT TERM EXIT
    say "stopping the benchmark's RabbitMQ"
    "$REPO/scripts/rabbitmq-node" stop "$BENCH_NODE" >>"$LOG/bench-rabbitmq.log" 2>&1 || true
    rm -rf -- "$BENCH_NODE"
}

# ./run.sh bench [QUICK] [ARGS]: the paper's experiments and issue 9's limits (bench/README.md); QUICK takes a few
# minutes; ARGS go to `mep-bench site` (--help), e.g. --only 3 4. The harness starts and stops the whole site
# itself, on ports and in a directory of its own (MEP_BENCH_SITE_DIR, default $HOME_DIR/bench-site), so it can run
# beside `./run.sh`; run.sh only builds it. Results: bench/results/site-<time>.{md,csv} and plots.
cmd_bench() {
    is_root || die "the benchmark starts a root launcher and creates the Unix account mep-bench: run it as root"
    ensure_packages
    build_all
    publish bench/Mep.Bench.csproj bench
    ensure_service_account
    local args=() arg
    for arg in "$@"; do
        if [[ "$arg" == QUICK || "$arg" == quick ]]; then args+=(--quick); else args+=("$arg"); fi
    done
    "$BIN/bench/mep-bench" site --bin "$BIN" --repo "$REPO" --runtime "${MEP_BENCH_SITE_DIR:-$HOME_DIR/bench-site}" \
        --service-account "$SERVICE_ACCOUNT" --results "$REPO/bench/results" "${args[@]}"
}

# ./run.sh install [--destdir DIR] [--from DIR] [--no-reload]: the programs into /opt/mep (root-owned, a fresh
# directory per program swapped in whole), the units into /etc/systemd/system, /etc/mep (0750 root:mep) with
# silo.env (0640 root:mep) and launcher.json (0600 root) from the examples only when missing (never overwritten;
# the examples are refreshed beside them), the service account, then systemctl daemon-reload. Idempotent.
# --destdir stages everything under DIR (paths inside the units stay /opt/mep, /etc/mep) and skips the reload;
# --from installs programs already published (a directory laid out as $BIN: silo/ launcher/ endpoint/ mep/).
cmd_install() {
    local root=${DESTDIR:-} from="" reload=1
    while (( $# > 0 )); do
        case "$1" in
            --destdir) root=${2:?--destdir needs a directory}; shift 2 ;;
            --destdir=*) root=${1#*=}; shift ;;
            --from) from=${2:?--from needs a directory}; shift 2 ;;
            --from=*) from=${1#*=}; shift ;;
            --no-reload) reload=0; shift ;;
            *) die "install: unknown option '$1' (--destdir DIR, --from DIR, --no-reload)" ;;
        esac
    done
    is_root || die "install creates the service account and root-owned files: run it as root"
    if [[ -z "$from" ]]; then
        ensure_packages
        build_all
        from=$BIN
    fi
    local program
    for program in silo/mep-silo launcher/mep-launcher endpoint/mep-endpoint mep/mep; do
        [[ -e "$from/$program" ]] || die "install: $from/$program is missing (--from wants silo/, launcher/, endpoint/, mep/ as run.sh publishes them)"
    done
    ensure_service_account

    root=${root%/}
    local opt=$root/opt/mep etc=$root/etc/mep units=$root/etc/systemd/system name
    install -d -m 0755 -o root -g root "$opt" "$units" "$root/usr/local/bin"
    for name in silo launcher endpoint mep; do
        # A whole new directory, then one rename: a running program keeps the files it has open, and no mix of two
        # versions is ever on disk under the live name.
        rm -rf -- "$opt/$name.new" "$opt/$name.old"
        cp -R -L -- "$from/$name" "$opt/$name.new"
        chown -R root:root "$opt/$name.new"
        chmod -R u=rwX,go=rX "$opt/$name.new"
        if [[ -e "$opt/$name" ]]; then mv -- "$opt/$name" "$opt/$name.old"; fi
        mv -- "$opt/$name.new" "$opt/$name"
        rm -rf -- "$opt/$name.old"
    done
    install -m 0644 -o root -g root "$REPO/README.md" "$opt/README.md"
    ln -sfn /opt/mep/mep/mep "$root/usr/local/bin/mep"
    say "installed the programs into $opt"

    install -d -m 0750 -o root -g "$SERVICE_ACCOUNT" "$etc"
    install_config "$REPO/deploy/systemd/silo.env.example" "$etc/silo.env" 0640 "root:$SERVICE_ACCOUNT"
    install_config "$REPO/deploy/systemd/launcher.json.example" "$etc/launcher.json" 0600 root:root
    for name in mep-silo.service mep-launcher.service; do
        install -m 0644 -o root -g root "$REPO/deploy/systemd/$name" "$units/$name"
    done
    say "installed mep-silo.service and mep-launcher.service into $units"

    if [[ -n "$root" ]]; then
        say "staged under $root: no systemctl daemon-reload"
    elif (( reload == 0 )); then
        say "--no-reload: run systemctl daemon-reload yourself"
    elif [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        say "systemctl daemon-reload done; next: edit /etc/mep/silo.env and launcher.json, then systemctl enable --now mep-launcher mep-silo"
    else
        say "systemd is not running here: run systemctl daemon-reload once it is"
    fi
}

install_config() { # EXAMPLE TARGET MODE OWNER: TARGET from EXAMPLE only when missing; EXAMPLE refreshed beside it
    local example=$1 target=$2 mode=$3 owner=$4
    install -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$example" "$target.example"
    if [[ -e "$target" ]]; then
        say "kept $target (changes in the example: diff $target $target.example)"
    else
        install -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$example" "$target"
        say "installed $target from the example: edit it for this node"
    fi
}

main() {
    choose_home
    case "${1:-run}" in
        run) cmd_run ;;
        test) shift; cmd_test "$@" ;;
        demo) cmd_demo ;;
        cluster) shift; source "$REPO/scripts/run-cluster.sh"; cmd_cluster "$@" ;;
        mep) shift; publish Cli/Mep.Cli.csproj mep; mep_cli "$@" ;;
        bench-streams) shift; cmd_bench_streams "$@" ;;
        bench) shift; cmd_bench "$@" ;;
        install) shift; cmd_install "$@" ;;
        -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
        *) die "unknown command '$1' (try ./run.sh help)" ;;
    esac
}

main "$@"
