#!/usr/bin/env bash
# Build a pinned upstream Go program once and print the path of its binary.
#
#   toolchain/build.sh argo        -> ~/.cache/mlops-gitops/tools/argo-workflows-v3.7.9/argo
#   toolchain/build.sh kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy
#                      | etcd | argocd | coredns | spark-operator | ray-operator | minio | metrics-server
#
# Binaries are kept in $MLOPS_GITOPS_TOOLS (default ~/.cache/mlops-gitops/tools), in a directory named after the
# pinned version, so a warm run costs nothing and a new pin builds afresh. Sources come from the Go module proxy
# (toolchain/upstream.sh); the Go build cache makes a rebuild after a pin change incremental.
#
# With MLOPS_GITOPS_BUILD=never it only looks: it prints the binary's path when it is built, and otherwise says so
# and exits 3 (CI asks this before it starts a cluster test that a cold build would push past its time limit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
tools=${MLOPS_GITOPS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-gitops/tools}
tool=${1:?usage: build.sh TOOL}

log() { printf 'toolchain: %s\n' "$*" >&2; }

# True when BINARY is there; when it is not and building is off, exit 3 instead of returning to build it.
built() {
    [ -x "$1" ] && return 0
    if [ "${MLOPS_GITOPS_BUILD:-}" = never ]; then
        log "$tool is not built yet ($1)"
        exit 3
    fi
    return 1
}

# A writable copy of a module, for the builds that need a file the module zip lacks.
writable_copy() {
    local name=$1 version=$2 dest=$tools/src/$1-$2
    if [ ! -f "$dest/go.mod" ]; then
        rm -rf "$dest.partial"
        mkdir -p "$(dirname "$dest")"
        cp -r "$("$here/upstream.sh" "$name")" "$dest.partial"
        chmod -R u+w "$dest.partial"
        mv "$dest.partial" "$dest"
    fi
    printf '%s\n' "$dest"
}

# go build PACKAGE into OUT, atomically, with the module's own go.mod.
go_build() {
    local dir=$1 package=$2 out=$3 ldflags=$4
    log "building $(basename "$out") from $package (a cold build takes minutes)"
    mkdir -p "$(dirname "$out")"
    # A partial file of this process's own: two runs building the same tool at once must not mix their output.
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out.partial.$$" "$package")
    mv "$out.partial.$$" "$out"
}

argo_workflows() {
    # $1: the command under cmd/ to build (argo: CLI and server; workflow-controller; argoexec).
    local command=$1 version=$ARGO_WORKFLOWS_VERSION
    local out=$tools/argo-workflows-$version/$command
    if ! built "$out"; then
        local src
        src=$(writable_copy ARGO_WORKFLOWS "$version")
        # The CLI's server embeds the web UI's build output, which the module does not ship: serve a plain page.
        mkdir -p "$src/ui/dist/app"
        [ -f "$src/ui/dist/app/index.html" ] ||
            printf '<!doctype html><title>Argo</title><p>The web UI is not built into this binary.</p>\n' \
                >"$src/ui/dist/app/index.html"
        # Upstream's signal_linux.go is a symlink to signal_darwin.go, and module zips drop symlinks, so argoexec
        # does not compile from the module as served ("undefined: Setpgid"): put the link back.
        ln -sfn signal_darwin.go "$src/workflow/executor/osspecific/signal_linux.go"
        go_build "$src" "./cmd/$command" "$out" "-X $ARGO_WORKFLOWS_MODULE.version=$version"
    fi
    printf '%s\n' "$out"
}

# Fail unless the module in toolchain/DIR requires MODULE at VERSION (its go.mod must follow versions.env).
check_pin() {
    local dir=$1 module=$2 version=$3
    grep -qE "^(require)?[[:space:]]+$module $version( |\$)" "$here/$dir/go.mod" || {
        log "toolchain/$dir/go.mod does not require $module $version (the pin in versions.env)"
        exit 2
    }
}

kubernetes() {
    # The four control-plane programs and the two node programs in one go build, so they share its compile work; $1 is
    # the one to print.
    local version=$KUBERNETES_VERSION dir=$tools/kubernetes-$KUBERNETES_VERSION
    if ! built "$dir/$1"; then
        check_pin kubernetes k8s.io/kubernetes "$version"
        local major=${version#v} minor
        minor=${major#*.}
        minor=${minor%%.*}
        major=${major%%.*}
        local ldflags="" pkg
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
            ldflags+=" -X $pkg.gitTreeState=clean"
        done
        log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet and kube-proxy $version (cold: 20-40 min)"
        local partial=$dir.partial.$$
        mkdir -p "$partial"
        (cd "$here/kubernetes" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" \
            -o "$partial/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
            k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
        mv -T "$partial" "$dir" 2>/dev/null || rm -rf "$partial" # another run got there first
    fi
    printf '%s\n' "$dir/$1"
}

etcd() {
    local out=$tools/etcd-$ETCD_VERSION/etcd
    if ! built "$out"; then
        check_pin etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
        go_build "$here/etcd" . "$out" ""
    fi
    printf '%s\n' "$out"
}

# go install PACKAGE@VERSION into DIR: for modules whose go.mod has no replace directive pointing into the module.
# $1: the directory's name under $tools, $2: the package, $3: the version, $4: the binary's name, $5: ldflags.
go_install() {
    local out=$tools/$1/$4
    if ! built "$out"; then
        log "building $4 from $2@$3 (a cold build takes minutes)"
        local partial=$tools/$1.partial.$$
        mkdir -p "$partial"
        (cd "${TMPDIR:-/tmp}" && CGO_ENABLED=0 GOBIN=$partial go install -trimpath -ldflags "${5:-}" "$2@$3") ||
            { rm -rf "$partial"; return 1; }
        mkdir -p "$(dirname "$out")"
        mv "$partial/$4" "$out"
        rmdir "$partial"
    fi
    printf '%s\n' "$out"
}

# spark-operator's one binary: `spark-operator controller start` and `spark-operator webhook start`. Its go.mod pins
# the Kubernetes libraries with replace directives, which only a build inside the module honours.
spark_operator() {
    local version=$SPARK_OPERATOR_VERSION out=$tools/spark-operator-$SPARK_OPERATOR_VERSION/spark-operator
    if ! built "$out"; then
        local src
        src=$(writable_copy SPARK_OPERATOR "$version")
        go_build "$src" ./cmd/operator "$out" "-X k8s.io/component-base/version.gitVersion=$version"
    fi
    printf '%s\n' "$out"
}

# Argo CD: one binary that acts as the program its name (or ARGOCD_BINARY_NAME) says, e.g.
# argocd-application-controller and argocd-repo-server. Its go.mod points gitops-engine at ./gitops-engine, a nested
# module the module zip leaves out, so the copy drops that replace and takes the released gitops-engine module of
# the same version its require line names. It needs Go 1.27, which the go command fetches as GO_TOOLCHAIN.
argo_cd() {
    local out=$tools/argo-cd-$ARGO_CD_VERSION/argocd
    if ! built "$out"; then
        local src
        src=$(writable_copy ARGO_CD "$ARGO_CD_VERSION")
        sed -i '/^replace github.com\/argoproj\/argo-cd\/gitops-engine\/v3 => .\/gitops-engine$/d' "$src/go.mod"
        GOTOOLCHAIN=$GO_TOOLCHAIN go_build "$src" ./cmd "$out" \
            "-X $ARGO_CD_MODULE/common.version=${ARGO_CD_VERSION#v}"
    fi
    printf '%s\n' "$out"
}

case $tool in
    argo | workflow-controller | argoexec) argo_workflows "$tool" ;;
    argocd) argo_cd ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy) kubernetes "$tool" ;;
    etcd) etcd ;;
    coredns) go_install "coredns-$COREDNS_VERSION" "$COREDNS_MODULE" "$COREDNS_VERSION" coredns ;;
    spark-operator) spark_operator ;;
    ray-operator) go_install "kuberay-$KUBERAY_VERSION" "$KUBERAY_MODULE" "$KUBERAY_VERSION" ray-operator ;;
    minio) go_install "minio-$MINIO_VERSION" "$MINIO_MODULE" "$MINIO_VERSION" minio ;;
    metrics-server)
        # v0.9.1 needs Go 1.26.10 or newer.
        GOTOOLCHAIN=$GO_TOOLCHAIN go_install "metrics-server-$METRICS_SERVER_VERSION" "$METRICS_SERVER_MODULE/cmd/metrics-server" \
            "$METRICS_SERVER_VERSION" metrics-server "-X k8s.io/component-base/version.gitVersion=$METRICS_SERVER_VERSION"
        ;;
    *)
        log "unknown tool $tool"
        exit 2
        ;;
esac
