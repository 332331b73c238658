# bash completion for vmimage(1): subcommands, their options, stored image
# tags for the commands that take a REF, and files where a path is expected.
# Installed as <datadir>/bash-completion/completions/vmimage. The subcommand
# list is checked against `vmimage --help` by tests/embed/install_test.sh.

_vmimage_tags() {
  local cache=() i
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    [[ ${COMP_WORDS[i]} == --cache-dir ]] && cache=(--cache-dir "${COMP_WORDS[i + 1]}")
  done
  "${COMP_WORDS[0]}" "${cache[@]}" ls -q 2>/dev/null
}

_vmimage() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  local global="--cache-dir --json -q --quiet --insecure-registry --ca-file --limit --help --version"
  local commands="pull import push export upper mkfs ls inspect tag rm gc du verify config login
    logout resolve limits version"
  local -A options=(
    [pull]="--platform --force --layout --fs --jobs --converted-repo --publish --verity --no-verity"
    [import]="--ref --platform --layout --fs --verity --no-verity"
    [push]="--layout --compress --jobs"
    [export]="--type --size --free --verity --no-verity --verity-salt"
    [upper]="create"
    [mkfs]="--type --size --free --block-size --mtime --uuid --label --lower --verity --no-verity
      --verity-salt"
    [ls]="--all --local --registry"
    [login]="-u --username --password-stdin"
    [resolve]="--platform"
  )

  case $prev in
    --cache-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --ca-file | --lower) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --layout) COMPREPLY=($(compgen -W "squashed layered auto:" -- "$cur")); return ;;
    --fs | --type) COMPREPLY=($(compgen -W "erofs ext4" -- "$cur")); return ;;
    --platform | --jobs | --size | --free | --block-size | --mtime | --uuid | --label | --ref | \
      --limit | --insecure-registry | -u | --username | --verity-salt)
      return ;;
  esac

  local command="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --cache-dir | --ca-file | --limit | --insecure-registry) ((i++)) ;;
      -*) ;;
      *) command=${words[i]}; break ;;
    esac
  done

  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$global" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${options[$command]:-} $global" -- "$cur"))
    return
  fi
  case $command in
    inspect | rm | tag | export | push | verify) COMPREPLY=($(compgen -W "$(_vmimage_tags)" -- "$cur")) ;;
    upper) COMPREPLY=($(compgen -W "create" -- "$cur")) ;;
    config)
      if [[ $prev == verity ]]; then
        COMPREPLY=($(compgen -W "on off" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "verity" -- "$cur"))
      fi ;;
    import | mkfs) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _vmimage vmimage
