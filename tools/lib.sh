# shellcheck shell=bash
# Shared paths and helpers for tools/setup, tools/test and tools/lab. Source it; do not run it.
#
# State that outlives a checkout (the virtualenv, the apt cache, the base image recipe stamp)
# lives under ORCH_STATE_DIR so that a fresh clone on a machine that ran set-up once has
# nothing to download again.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORCH_STATE_DIR="${ORCH_STATE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/orchestrator-platform}"
REQUIREMENTS_FILE="$REPO_ROOT/tools/requirements.txt"
REQUIREMENTS_SHA="$(sha256sum "$REQUIREMENTS_FILE" | cut -c1-16)"
VENV_DIR="$ORCH_STATE_DIR/venv-$REQUIREMENTS_SHA"
# The oldest ansible-core that meta/runtime.yml accepts, in a venv of its own for the
# sanity-oldest and unit-oldest gates (tools/requirements.txt pins the newest).
OLDEST_REQUIREMENTS_FILE="$REPO_ROOT/tools/requirements-oldest.txt"
OLDEST_VENV_DIR="$ORCH_STATE_DIR/venv-oldest-$(sha256sum "$OLDEST_REQUIREMENTS_FILE" | cut -c1-16)"
CHECKOUT_ID="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
# ansible wants collections under ansible_collections/<namespace>/<name>; the checkout is
# linked there (outside the tree, so no tool ever walks into a loop).
COLLECTIONS_DIR="$ORCH_STATE_DIR/checkouts/$CHECKOUT_ID/collections"
COLLECTION_LINK="$COLLECTIONS_DIR/ansible_collections/orchestrator/platform"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Venv directory for "newest" (tools/requirements.txt), "oldest" (tools/requirements-oldest.txt)
# or a venv path.
orch_venv() {
    case "${1:-newest}" in
        newest) echo "$VENV_DIR" ;;
        oldest) echo "$OLDEST_VENV_DIR" ;;
        *) echo "$1" ;;
    esac
}

# Put the newest venv, the collection layout and Ansible's settings into this shell.
orch_activate() { orch_activate_venv newest; }

# The same with the venv orch_venv names ("newest", "oldest" or a path).
orch_activate_venv() {
    local venv
    venv="$(orch_venv "$1")"
    [ -x "$venv/bin/python" ] || die "no virtualenv at $venv: run tools/setup first"
    mkdir -p "$(dirname "$COLLECTION_LINK")"
    ln -sfn "$REPO_ROOT" "$COLLECTION_LINK"
    export VIRTUAL_ENV="$venv"
    export PATH="$venv/bin:$PATH"
    export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"
    export ANSIBLE_ROLES_PATH="$REPO_ROOT/roles"
    export PYTHONPATH="$COLLECTIONS_DIR${PYTHONPATH:+:$PYTHONPATH}"
    export ORCH_REPO_ROOT="$REPO_ROOT"
    # Mitogen's strategy plugins (tools/requirements.txt), for the lab and Molecule:
    # ANSIBLE_STRATEGY=mitogen_linear with this path on ANSIBLE_STRATEGY_PLUGINS.
    local mitogen_dir
    mitogen_dir="$(echo "$VENV_DIR"/lib/python3*/site-packages/ansible_mitogen/plugins/strategy)"
    [ -d "$mitogen_dir" ] || die "Mitogen is missing from $VENV_DIR: run tools/setup"
    export ORCH_MITOGEN_STRATEGY_DIR="$mitogen_dir"
    export ORCH_STATE_DIR
    export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
    export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
}
