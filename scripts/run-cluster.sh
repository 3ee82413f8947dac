# shellcheck shell=bash
# `./run.sh cluster [N]`: N login nodes on this machine, sourced by run.sh (uses its functions and settings).
# Each node is a silo + launcher pair with its own node name (node1..nodeN), ports, launcher socket, launcher state
# and data directory under $HOME_DIR/cluster/nodeI; all share a private PostgreSQL ($HOME_DIR/cluster/postgres) and
# the single-node mode's private RabbitMQ. The silos talk to each other over mutual TLS with the site's certificate
# and CA ($TLS_DIR, as run_silo passes them: Mep:Cluster:Tls:*). Settings: MEP_CLUSTER_API_PORT (first node's API port, 8481; node I
# gets +I-1), MEP_CLUSTER_SILO_PORT (11121), MEP_CLUSTER_GATEWAY_PORT (30021), MEP_CLUSTER_PG_PORT (5743).

CLUSTER_API_PORT=${MEP_CLUSTER_API_PORT:-8481}
CLUSTER_SILO_PORT=${MEP_CLUSTER_SILO_PORT:-11121}
CLUSTER_GATEWAY_PORT=${MEP_CLUSTER_GATEWAY_PORT:-30021}
CLUSTER_PG_PORT=${MEP_CLUSTER_PG_PORT:-5743}
CLUSTER_NODE_PIDS=()

# The database (TLS only, with the site's certificate; the connection strings say SSL Mode=VerifyFull): server, database `mep` owned by `mep_owner`, the silos' role `mep_silo` with row rights only
# (given by `mep db init --grant-to`). The silos' connection string gets a pool cap: N silos share the server's
# 200 connections with `mep db` and whoever else uses it.
start_cluster_postgres() {
    local pg=$CLUSTER_DIR/postgres log=$LOG/cluster-postgres.log
    say "starting PostgreSQL (127.0.0.1:$CLUSTER_PG_PORT, data $pg, log $log)"
    ensure_tls
    { "$REPO/scripts/postgres-node" install &&
        start_postgres "$pg" "$CLUSTER_PG_PORT" &&
        "$REPO/scripts/postgres-node" create-db "$pg" mep mep_owner &&
        "$REPO/scripts/postgres-node" create-role "$pg" mep_silo mep; } >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die "PostgreSQL did not start: see $log (another port: MEP_CLUSTER_PG_PORT)"; }
    "$BIN/mep/mep" db init --connection-string-file "$pg/credentials/mep_owner@mep.connection" --grant-to mep_silo >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die "mep db init failed: see $log"; }
    install -m 0600 /dev/null "$CLUSTER_DIR/db-silo.conn"
    printf '%s;Maximum Pool Size=30\n' "$(tr -d '\n' <"$pg/credentials/mep_silo@mep.connection")" >"$CLUSTER_DIR/db-silo.conn"
    if is_root; then chown "$SERVICE_ACCOUNT:" "$CLUSTER_DIR/db-silo.conn"; fi
}

start_cluster_node() { # I
    local i=$1 node=node$1 dir=$CLUSTER_DIR/node$1
    local api=$((CLUSTER_API_PORT + i - 1)) silo=$((CLUSTER_SILO_PORT + i - 1)) gateway=$((CLUSTER_GATEWAY_PORT + i - 1))
    mkdir -p "$dir"
    chmod 0755 "$dir"
    start_launcher "$dir/launcher.sock" "$dir/launcher-state" "$node-launcher"
    CLUSTER_NODE_PIDS+=("$LAUNCHER_PID")
    # Short failure detection, so that a node killed here is declared dead in seconds (Orleans' defaults: ~30 s).
    run_silo "$dir/data" "$dir/launcher.sock" "$api" "$node-silo" \
        --Mep:Cluster:NodeName="$node" \
        --Mep:Cluster:Address=127.0.0.1 \
        --Mep:Cluster:SiloPort="$silo" \
        --Mep:Cluster:GatewayPort="$gateway" \
        --Mep:Cluster:ClusterId=mep-run-cluster \
        --Mep:Cluster:Membership:ProbeTimeout=00:00:02 \
        --Mep:Cluster:Membership:MissedProbesLimit=3 \
        --Mep:Cluster:Membership:VotesForDeath=1 \
        --Mep:Database:Provider=postgresql \
        --Mep:Database:ConnectionStringFile="$CLUSTER_DIR/db-silo.conn"
    CLUSTER_NODE_PIDS+=("$SILO_PID")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$node" "$api" "$silo" "$gateway" "$SILO_PID" "$LAUNCHER_PID" "$dir/launcher.sock" >>"$CLUSTER_DIR/nodes.tsv"
}

stop_cluster() {
    trap - INT TERM EXIT
    CLUSTER_STOPPED=1
    say "stopping the cluster"
    local pid
    for pid in "${CLUSTER_NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CLUSTER_NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    # User endpoints outlive their launcher by design; this script started them, so it ends them.
    pkill -TERM -f "^$BIN/endpoint/mep-endpoint" 2>/dev/null || true
    "$REPO/scripts/rabbitmq-node" stop "$HOME_DIR/rabbitmq" >>"$LOG/rabbitmq.log" 2>&1 || true
    "$REPO/scripts/postgres-node" stop "$CLUSTER_DIR/postgres" >>"$LOG/cluster-postgres.log" 2>&1 || true
}

cmd_cluster() {
    local n=${1:-3} i
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "cluster N: N is a number of nodes from 1 to 99, got '$n'"
    ensure_packages
    build_all
    ensure_service_account
    CLUSTER_DIR=$HOME_DIR/cluster
    mkdir -p "$CLUSTER_DIR"
    chmod 0755 "$CLUSTER_DIR"
    trap stop_cluster INT TERM EXIT
    start_cluster_postgres
    start_rabbitmq
    prepare_silo_files
    printf 'node\tapi_port\tsilo_port\tgateway_port\tsilo_pid\tlauncher_pid\tlauncher_socket\n' >"$CLUSTER_DIR/nodes.tsv"
    for ((i = 1; i <= n; i++)); do start_cluster_node "$i"; done
    {
        printf '\n  MEP cluster is up: %s nodes on PostgreSQL 127.0.0.1:%s, endpoint %s\n' "$n" "$CLUSTER_PG_PORT" "$EXAMPLE_ENDPOINT_ID"
        for ((i = 1; i <= n; i++)); do
            printf '    node%s: MEP_URL=https://127.0.0.1:%s ./run.sh mep …\n' "$i" $((CLUSTER_API_PORT + i - 1))
        done
        printf '  Pids and ports: %s   Logs: %s/node*-{silo,launcher}.log   Ctrl-C stops everything.\n' "$CLUSTER_DIR/nodes.tsv" "$LOG"
        printf '  Try a failover: kill -KILL one node'"'"'s silo_pid and launcher_pid (and its mep-endpoint processes).\n\n'
    } >&2
    # Foreground until any node's silo or launcher exits (or Ctrl-C).
    wait -n "${CLUSTER_NODE_PIDS[@]}" || true
    [[ -n "${CLUSTER_STOPPED:-}" ]] || say "a node's process exited; stopping the rest"
}
