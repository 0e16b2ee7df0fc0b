#!/usr/bin/env bash
# Build the cluster's container images here, from sources that are reachable without an image registry, and keep
# each as an OCI archive that `ctr images import` loads in one command. Prints the archive's path.
#
#   toolchain/images.sh base      Debian bookworm from debootstrap, with Python 3.11
#   toolchain/images.sh project   the project's Dockerfile (service target) FROM the base
#   toolchain/images.sh model-server  the same Dockerfile's model-server target (built from the same layers)
#   toolchain/images.sh pause     Kubernetes' pause, compiled from the pinned kubernetes module's C source
#   toolchain/images.sh argoexec  Argo's executor, from the pinned Go module
#   toolchain/images.sh spark-operator  spark-operator's controller, FROM the project image (its spark-submit)
#   toolchain/images.sh ray-operator    the KubeRay operator, FROM the base
#   toolchain/images.sh operators       both operators
#   toolchain/images.sh all       all of the above
#   toolchain/images.sh reference IMAGE  the name IMAGE has at the current inputs, without building anything
#
# Archives live in $MLOPS_GITOPS_IMAGES (default ~/.cache/mlops-gitops/images), named after their image and a key
# made of every input (suite, package list, pinned version, the sources and Dockerfile), so a warm run only checks
# that the archive exists and a changed input builds afresh. Images are built with buildah as root. With
# MLOPS_GITOPS_BUILD=never it only looks: a missing archive is reported, with exit status 3, instead of built.
# A new build replaces the image's older archives and buildah tags: every change of the code makes new ones (GBs).
set -euo pipefail
# A failed build inside $(...) (an image built FROM another one) must stop the script, not go on without it.
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
images=${MLOPS_GITOPS_IMAGES:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-gitops/images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

scratch=$(mktemp -d)
working=() # containers started for an image's checks, all removed when the script ends
cleanup() {
    local c
    for c in "${working[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT

# A working container of image $1, in $ctr, for running checks in it.
container_of() {
    ctr=$(buildah from "$1")
    working+=("$ctr")
}

log() { printf 'images: %s\n' "$*" >&2; }

# A short key for everything on stdin.
key() { sha256sum | cut -c1-16; }

# What the script prints for an image: its archive (built when missing), or with `reference` only its name.
mode=archive
if [ "${1:-}" = reference ]; then
    mode=reference
    shift
fi

# The archive for image NAME:TAG, built by the function BUILDER (which commits localhost/NAME:TAG) when it is missing.
archive() {
    local name=$1 tag=$2 builder=$3 out=$images/$1-$2.oci.tar
    if [ "$mode" = reference ]; then
        printf 'localhost/mlops-gitops/%s:%s\n' "$name" "$tag"
        return
    fi
    if [ ! -f "$out" ] && [ "${MLOPS_GITOPS_BUILD:-}" = never ]; then
        log "$name is not built yet ($out)"
        exit 3
    fi
    if [ ! -f "$out" ]; then
        mkdir -p "$images"
        local started=$SECONDS
        "$builder" "localhost/mlops-gitops/$name:$tag"
        rm -f "$out.partial"
        buildah push --quiet "localhost/mlops-gitops/$name:$tag" "oci-archive:$out.partial:localhost/mlops-gitops/$name:$tag"
        mv "$out.partial" "$out"
        log "built localhost/mlops-gitops/$name:$tag in $((SECONDS - started)) s"
        superseded "$name" "$tag"
    fi
    printf '%s\n' "$out"
}

# Remove image NAME's archives and buildah images of tags other than TAG, now that TAG is built.
superseded() {
    local name=$1 tag=$2 old ref
    for old in "$images/$name"-*.oci.tar; do
        [ -f "$old" ] && [ "$old" != "$images/$name-$tag.oci.tar" ] || continue
        rm -f "$old"
        log "removed the superseded $old"
    done
    buildah images --noheading --format '{{.Name}}:{{.Tag}}' | { grep -F "localhost/mlops-gitops/$name:" || true; } |
        while read -r ref; do
            [ "$ref" = "localhost/mlops-gitops/$name:$tag" ] || buildah rmi "$ref" >/dev/null 2>&1 || true
        done
}

# Make the image in ARCHIVE (one whose tag has no "-", as the base's) available to buildah's local storage, where a
# later build reads it FROM.
load() {
    local out=$1 ref
    ref=localhost/mlops-gitops/$(basename "$out" .oci.tar | sed 's/-\([^-]*\)$/:\1/')
    buildah inspect --type image "$ref" >/dev/null 2>&1 || buildah pull --quiet "oci-archive:$out" >/dev/null
    printf '%s\n' "$ref"
}

packages() { grep -v '^#' "$here/images/base-packages.txt" | grep -v '^$' | paste -sd, -; }

# Certificate authorities this host adds to its trust store (a TLS-inspecting egress proxy, a company CA): the base
# trusts them too, or builds FROM it could not reach PyPI or Maven Central from here.
host_cas() { [ -d /usr/local/share/ca-certificates ] || return 0; find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | LC_ALL=C sort; }

base_tag() { { echo bookworm "$mirror"; cat "$here/images/base-packages.txt"; host_cas | xargs -r cat; } | key; }

build_base() {
    local ref=$1 work=$scratch/base
    mkdir -p "$work"
    log "debootstrap bookworm with $(packages) (a cold build takes minutes)"
    debootstrap --variant=minbase --include="$(packages)" bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; return 1; }
    # Security and point-release updates for the images built FROM this base; no package lists or caches shipped.
    cat >"$work/rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    host_cas | xargs -r cp -t "$work/rootfs/usr/local/share/ca-certificates/"
    chroot "$work/rootfs" update-ca-certificates >/dev/null
    rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb
    tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
    local ctr
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
    # pip and uv bring their own CA lists unless told to use the system's, which holds the host's CAs.
    buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
        --cmd /usr/bin/python3 --label org.opencontainers.image.description="Debian bookworm with Python 3.11" "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
}

base() { archive base "$(base_tag)" build_base; }

# The project image's build context, as the Dockerfile and .dockerignore see it.
context_files() {
    (cd "$repo" && find Dockerfile .dockerignore pyproject.toml image core triggers listeners workflows \
        gitops services mlops_gitops feature_repo -type f ! -path '*/__pycache__/*' ! -path 'feature_repo/data/*' |
        LC_ALL=C sort)
}

project_tag() { { base_tag; cd "$repo" && context_files | xargs sha256sum; } | key; }

build_project() {
    local ref=$1 base_ref
    base_ref=$(load "$(base)")
    log "building the project image FROM $base_ref (a cold build downloads the dependencies and the S3A jars)"
    # runc: Debian's crun refuses this kind of VM's hybrid cgroup v1/v2 layout; runc runs the build's RUN steps.
    buildah bud --runtime "${BUILDAH_RUNTIME:-runc}" --layers --network host --build-arg "PYTHON_IMAGE=$base_ref" --target service \
        -t "$ref" -f "$repo/Dockerfile" "$repo" >&2
    check_project "$ref"
}

# An image that fails these is not archived: Spark's own spark-submit through the entrypoint, the steps' CLI, and
# a local Spark session that serves s3:// and s3a:// with the S3A connector from the image's classpath.
check_project() {
    local ctr
    container_of "$1"
    in_image() { buildah run --runtime "${BUILDAH_RUNTIME:-runc}" "$ctr" -- "$@"; }
    local version
    version=$(in_image python -c 'import pyspark; print(pyspark.__version__)')
    in_image /usr/local/bin/spark-entrypoint.sh spark-submit --version 2>&1 | grep -F "version $version" >&2
    in_image python -m workflows.steps --help >/dev/null
    in_image python - <"$here/images/check_project_image.py" >&2
    log "project image checks passed"
}

project() { archive project "$(project_tag)" build_project; }

# The model server shares the project's build and runtime layers (one build cache); only its last layer differs.
build_model_server() {
    local ref=$1 base_ref ctr
    base_ref=$(load "$(base)")
    buildah bud --runtime "${BUILDAH_RUNTIME:-runc}" --layers --network host --build-arg "PYTHON_IMAGE=$base_ref" \
        --target model-server -t "$ref" -f "$repo/Dockerfile" "$repo" >&2
    container_of "$ref"
    buildah run --runtime "${BUILDAH_RUNTIME:-runc}" --user 10001:10001 "$ctr" -- \
        python -c 'import services.model_server.app, redis, boto3, feast' >&2
    log "model-server image checks passed"
}

model_server() { archive model-server "$(project_tag)" build_model_server; }

# pause: the pod sandbox's first process, compiled statically with the flags of the module's own build/pause/Makefile.
pause_tag() {
    local dir
    dir=$(go mod download -json "$KUBERNETES_MODULE@$KUBERNETES_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    printf '%s-%s\n' "$(sed -n 's/^TAG ?= //p' "$dir/build/pause/Makefile")" "$KUBERNETES_VERSION"
}

build_pause() {
    local ref=$1 dir tag=${1##*:} ctr
    dir=$(go mod download -json "$KUBERNETES_MODULE@$KUBERNETES_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    gcc -Os -Wall -Werror -static -DVERSION="v$tag" -o "$scratch/pause" "$dir/build/pause/linux/pause.c"
    ctr=$(buildah from scratch)
    buildah copy --quiet --chmod 0755 "$ctr" "$scratch/pause" /pause >/dev/null
    buildah config --user 65535:65535 --entrypoint '["/pause"]' "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
}

pause() { archive pause "$(pause_tag)" build_pause; }

# argoexec: Argo's init, wait and emissary executor, FROM the base (CA certificates for artifact stores, a /tmp).
build_argoexec() {
    local ref=$1 binary base_ref ctr
    binary=$("$here/build.sh" argoexec)
    base_ref=$(load "$(base)")
    ctr=$(buildah from "$base_ref")
    buildah copy --quiet --chmod 0755 "$ctr" "$binary" /usr/local/bin/argoexec >/dev/null
    buildah config --cmd '[]' "$ctr" # not the base's python3 as an argument
    buildah config --user 8737:8737 --entrypoint '["/usr/local/bin/argoexec"]' "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
}

argoexec() { archive argoexec "$ARGO_WORKFLOWS_VERSION-$(base_tag | cut -c1-8)" build_argoexec; }

# An image FROM FROM_REF that runs the pinned Go program BINARY as USER; $1 the image's reference.
program_image() {
    local ref=$1 from_ref=$2 binary=$3 user=$4 ctr
    ctr=$(buildah from "$from_ref")
    buildah copy --quiet --chmod 0755 "$ctr" "$binary" "/usr/local/bin/$(basename "$binary")" >/dev/null
    buildah config --cmd '[]' --user "$user" --entrypoint "[\"/usr/local/bin/$(basename "$binary")\"]" "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
}

# spark-operator submits applications with spark-submit from SPARK_HOME: the project image has that Spark (the one
# its driver and executor pods run, S3A included) and its Java, and sets SPARK_HOME.
build_spark_operator() {
    local from binary
    from=$(load "$(project)")
    binary=$("$here/build.sh" spark-operator)
    program_image "$1" "$from" "$binary" 10001:10001
}

spark_operator() {
    archive spark-operator "$SPARK_OPERATOR_VERSION-$(project_tag | cut -c1-8)" build_spark_operator
}

build_ray_operator() {
    local from binary
    from=$(load "$(base)")
    binary=$("$here/build.sh" ray-operator)
    program_image "$1" "$from" "$binary" 65532:65532
}

ray_operator() { archive ray-operator "$KUBERAY_VERSION-$(base_tag | cut -c1-8)" build_ray_operator; }

case ${1:?usage: images.sh [reference] base|project|model-server|pause|argoexec|spark-operator|ray-operator|operators|all} in
    base) base ;;
    project) project ;;
    model-server) model_server ;;
    pause) pause ;;
    argoexec) argoexec ;;
    spark-operator) spark_operator ;;
    ray-operator) ray_operator ;;
    operators) spark_operator && ray_operator ;;
    all) base && project && model_server && pause && argoexec && spark_operator && ray_operator ;;
    *)
        log "unknown image $1"
        exit 2
        ;;
esac
