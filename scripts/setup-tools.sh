#!/usr/bin/env bash
# Installs the template/ASL validation tools the tests in tests/template/ run, outside the project venv:
#   .venv-tools/  python 3.12 venv with aws-sam-cli (pins its own boto3, so it cannot share .venv) and statelint
#   .tools/       npm prefix with asl-validator (node_modules/.bin/asl-validator)
# Idempotent: a tool already at its pinned version is left alone, so a second run takes about a second.
# Needs only python 3.12 (pyenv or PATH), node and npm, and network access to PyPI and npm.
set -euo pipefail

SAM_CLI_VERSION="1.170.0"
STATELINT_VERSION="3.1.0"
ASL_VALIDATOR_VERSION="4.0.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="$ROOT/.venv-tools"
NODE_PREFIX="$ROOT/.tools"

log() { printf 'setup-tools: %s\n' "$*" >&2; }

find_python312() {
    local candidate
    if command -v pyenv >/dev/null 2>&1; then
        # Newest installed 3.12.x; sort -V orders 3.12.10 after 3.12.9.
        candidate="$(ls -d "$(pyenv root)"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n 1 || true)"
        if [[ -n "$candidate" ]]; then
            echo "$candidate"
            return
        fi
    fi
    if command -v python3.12 >/dev/null 2>&1; then
        command -v python3.12
        return
    fi
    log "no python 3.12 found (pyenv versions/3.12.* or python3.12 on PATH)"
    exit 1
}

installed_pip_version() {  # prints the installed version of $1 in the tools venv, or nothing
    "$TOOLS_VENV/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

setup_python_tools() {
    if [[ ! -x "$TOOLS_VENV/bin/python" ]]; then
        local python
        python="$(find_python312)"
        log "creating $TOOLS_VENV with $python"
        "$python" -m venv "$TOOLS_VENV"
    fi
    local wanted=()
    [[ "$(installed_pip_version aws-sam-cli)" == "$SAM_CLI_VERSION" ]] || wanted+=("aws-sam-cli==$SAM_CLI_VERSION")
    [[ "$(installed_pip_version statelint)" == "$STATELINT_VERSION" ]] || wanted+=("statelint==$STATELINT_VERSION")
    if ((${#wanted[@]})); then
        log "pip install ${wanted[*]}"
        "$TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
    else
        log "aws-sam-cli $SAM_CLI_VERSION and statelint $STATELINT_VERSION already installed"
    fi
}

setup_node_tools() {
    local manifest="$NODE_PREFIX/node_modules/asl-validator/package.json"
    if [[ -f "$manifest" ]] && [[ "$(node -p "require('$manifest').version")" == "$ASL_VALIDATOR_VERSION" ]]; then
        log "asl-validator $ASL_VALIDATOR_VERSION already installed"
        return
    fi
    log "npm install asl-validator@$ASL_VALIDATOR_VERSION into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --no-save --no-audit --no-fund --loglevel=error \
        "asl-validator@$ASL_VALIDATOR_VERSION" >/dev/null
}

setup_python_tools
setup_node_tools
log "sam: $("$TOOLS_VENV/bin/sam" --version)"
log "asl-validator: $NODE_PREFIX/node_modules/.bin/asl-validator"
