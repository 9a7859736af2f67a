#!/bin/sh
# version.sh - the package version of the tree it runs in: one that always
# increases from commit to commit, so that opkg and apk upgrade from any
# build to any later one (docs/install-probe.md, "Versions").
#
#   on a release tag vX.Y.Z            X.Y.Z
#   N commits after it                 X.Y.Z.N
#   before the first release tag       0.0.0.N      (N: commits in the history)
#   uncommitted changes (dirty tree)   X.Y.Z.N.S    (N may be 0; S: seconds from
#                                                    the commit's time to now)
#
# Only tags of digits and dots (v1, v1.2, v1.2.3) are release tags; they
# count as X.Y.Z, padded with .0. Digits and dots only, so that opkg's and
# apk's rules agree on the order. Without git (a source tarball): 0.0.0.
#
# Usage: scripts/version.sh [DIR]   (VERSION_NOW=<unix seconds> fixes "now")
set -eu
cd "${1:-$(dirname "$0")/..}"

if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo 0.0.0
	exit 0
fi

tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' --exclude 'v*[!0-9.]*' HEAD 2>/dev/null || true)
if [ -n "$tag" ]; then
	n=$(git rev-list --count "$tag..HEAD")
	base=${tag#v}
	case $base in
	*..* | *. ) echo "version.sh: release tag $tag is not vX.Y.Z" >&2; exit 1 ;;
	esac
	# pad to three numbers; more than three is refused (X.Y.Z.N must not
	# read as another release)
	set -- $(echo "$base" | tr . ' ')
	[ $# -le 3 ] || { echo "version.sh: release tag $tag has more than three numbers" >&2; exit 1; }
	base="${1:-0}.${2:-0}.${3:-0}"
	# leading zeros would compare equal to the number without them
	base=$(echo "$base" | awk -F. '{ printf "%d.%d.%d", $1, $2, $3 }')
else
	n=$(git rev-list --count HEAD)
	base=0.0.0
fi

dirty=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	committed=$(git log -1 --format=%ct HEAD)
	now=${VERSION_NOW:-$(date +%s)}
	s=$((now - committed))
	[ "$s" -ge 0 ] || s=0
	dirty=.$s
fi

if [ "$n" -eq 0 ] && [ -z "$dirty" ]; then
	echo "$base"
else
	echo "$base.$n$dirty"
fi
