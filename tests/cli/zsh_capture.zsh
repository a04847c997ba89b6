# What zsh offers when TAB is pressed after a command line, one match a line: an interactive zsh in a
# pseudo-terminal (zpty), the completion system loaded with the generated _jobctl first on $fpath, and
# compadd wrapped to print each match instead of inserting it. (The idea of Valodim's
# zsh-capture-completion, cut down to what the tests need.)
#
#   zsh -f zsh_capture.zsh COMPLETIONS_DIR 'jobctl clear '
#
# Environment: JOBCTL_ZSH (the zsh to run), JOBCTL_ZSH_MODULES (its module_path: a zsh unpacked
# outside /usr does not find its modules on its own), JOBCTL_ZSH_FUNCTIONS (its functions folder).
# Prints the matches between two NUL lines; exits 0, or 2 when the inner shell did not answer.

emulate -L zsh
[[ -n $JOBCTL_ZSH_MODULES ]] && module_path=($JOBCTL_ZSH_MODULES $module_path)
zmodload zsh/zpty || { print -u2 'zsh_capture: no zsh/zpty module'; exit 2 }

local compdir=$1 buffer=$2 init=${TMPDIR:-/tmp}/zsh_capture.$$.zsh
local funcs=${JOBCTL_ZSH_FUNCTIONS:-/usr/share/zsh/functions}
cat > $init <<INIT
PROMPT=''
RPROMPT=''
# the line editor failed to load at start-up when the modules are not where zsh was built to look:
# with module_path set, it loads for the next line read
module_path=(${JOBCTL_ZSH_MODULES:-} \$module_path)
zmodload zsh/zle && setopt zle
fpath=(${(q)compdir} ${(q)funcs}/Completion ${(q)funcs}/Completion/Base ${(q)funcs}/Completion/Unix ${(q)funcs}/Completion/Zsh \$fpath)
autoload -Uz compinit
compinit -u -D
# TAB completes; Enter never runs the line
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
null-line () { echo -E - \$'\\0' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
zmodload zsh/zutil
compadd () {
    # a call that only asks for matches (-O, -A, -D) is the completion system's own bookkeeping
    if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then
        builtin compadd "\$@"
        return \$?
    fi
    local -a __hits
    builtin compadd -A __hits "\$@"
    (( \$#__hits )) || return 1
    local h
    for h in \$__hits; do echo -E - "MATCH:\$h"; done
}
echo zsh_capture_ready
INIT

zpty z ${(q)${JOBCTL_ZSH:-zsh}} -f -i
local line
zpty -w z "source ${(q)init}"
repeat 40; do
    zpty -r z line || break
    [[ $line == *zsh_capture_ready* ]] && break
done
[[ $line == *zsh_capture_ready* ]] || { print -u2 'zsh_capture: the inner zsh did not start'; rm -f $init; exit 2 }
zpty -w -n z "$buffer"$'\t'
integer nulls=0
while zpty -r z line; do
    [[ $line == *$'\0'* ]] && { (( ++nulls >= 2 )) && break; continue }
    (( nulls )) && [[ $line == MATCH:* ]] && print -r -- ${${${line#MATCH:}%$'\n'}%$'\r'}
done
zpty -d z
rm -f $init
(( nulls >= 2 )) || exit 2
