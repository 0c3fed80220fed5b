# bash completion for oauthmail(1). Installed as
# $(PREFIX)/share/bash-completion/completions/oauthmail (also used for oauthmail-sendmail).

_oauthmail() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="send sendmail account token config"
    local cmd="" i
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            -*) ;;
            *) cmd="${words[i]}"; break ;;
        esac
    done
    case "${words[0]##*/}" in
        sendmail|oauthmail-sendmail) cmd=sendmail ;;
    esac

    case "$prev" in
        --attach|--inline|--text-file|--html-file|--ca-file|--config|-C)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --tls)
            COMPREPLY=($(compgen -W "starttls implicit none" -- "$cur"))
            return ;;
        --auth)
            COMPREPLY=($(compgen -W "xoauth2 oauthbearer plain login" -- "$cur"))
            return ;;
        -N)
            COMPREPLY=($(compgen -W "never success failure delay success,failure success,failure,delay" -- "$cur"))
            return ;;
    esac

    case "$cmd" in
        "")
            COMPREPLY=($(compgen -W "$commands -v --verbose --version --help" -- "$cur")) ;;
        send)
            COMPREPLY=($(compgen -W "--from --to --cc --bcc --reply-to --subject --text --text-file --html
                --html-file --attach --inline --header --dry-run --json --account --config --server --tls
                --ca-file --tls-skip-verify --allow-plaintext-auth --auth --user --bearer --password --ehlo
                --connect-timeout --timeout --no-pipelining --help" -- "$cur")) ;;
        sendmail)
            COMPREPLY=($(compgen -W "-t -i -oi -f -r -F -N -R -V -v -C -bm -bp -- --help" -- "$cur")) ;;
        account)
            COMPREPLY=($(compgen -W "list status login logout --config --json --help" -- "$cur")) ;;
        token)
            COMPREPLY=($(compgen -W "show refresh --config --json --reveal --help" -- "$cur")) ;;
        config)
            COMPREPLY=($(compgen -W "check --config --help" -- "$cur")) ;;
    esac
}
complete -o default -F _oauthmail oauthmail oauthmail-sendmail
