# Usage: . utils/parse_options.sh   (source it after setting the script's defaults)
#
# Turns leading command-line options into shell variables, ESPnet/Kaldi style:
#   --foo-bar value | --foo_bar value | --foo-bar=value   sets foo_bar
# only if the calling script already defined foo_bar; an unknown option is an error
# that prints the caller's $help_message. A variable whose default is true or false
# only accepts true or false. `--config file` sources a file of name=value lines
# before the other options are applied, so the command line wins over the file.
# `--help` / `-h` prints $help_message and exits 0. Parsing stops at the first
# argument that is not an option (or after `--`); the rest stays in "$@".
# Works under `set -euo pipefail`. Variables it uses start with _po_.

_po_usage() {
    if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message"; fi
}

_po_fail() {
    echo "$0: $*" >&2
    _po_usage >&2
    exit 1
}

# Pass 1: source every --config file first.
_po_prev=""
for _po_arg in "$@"; do
    [ "$_po_arg" = "--" ] && break
    _po_file=""
    if [ "$_po_prev" = "--config" ]; then _po_file=$_po_arg; fi
    case "$_po_arg" in --config=*) _po_file=${_po_arg#--config=} ;; esac
    if [ -n "$_po_file" ]; then
        [ -r "$_po_file" ] || _po_fail "cannot read config file '$_po_file'"
        # shellcheck disable=SC1090
        . "$_po_file"
    fi
    _po_prev=$_po_arg
done

# Pass 2: the options themselves.
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) _po_usage; exit 0 ;;
        --) shift; break ;;
        --*=*) _po_name=${1%%=*}; _po_value=${1#*=}; shift ;;
        --*)
            [ $# -ge 2 ] || _po_fail "option $1 needs a value"
            _po_name=$1; _po_value=$2; shift 2 ;;
        *) break ;;
    esac
    _po_opt=$_po_name
    _po_name=${_po_name#--}
    _po_name=${_po_name//-/_}
    [ "$_po_name" = config ] && continue
    [[ "$_po_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || _po_fail "invalid option $_po_opt"
    [ -n "${!_po_name+set}" ] || _po_fail "unknown option $_po_opt"
    case "${!_po_name}" in
        true|false)
            case "$_po_value" in
                true|false) ;;
                *) _po_fail "option $_po_opt takes true or false, got '$_po_value'" ;;
            esac ;;
    esac
    printf -v "$_po_name" '%s' "$_po_value"
done

unset _po_prev _po_arg _po_file _po_name _po_value _po_opt
unset -f _po_usage _po_fail
