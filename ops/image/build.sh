#!/usr/bin/env bash
# `make image`: the service as an OCI image, built from what this machine can reach (NuGet and Debian; no base-image
# registry): the service published self-contained (no SDK, no shared runtime in the image), the few native libraries
# .NET needs taken from Debian's packages, a non-root user, and nothing else: no shell, no package manager.
#
#   ops/image/build.sh            builds localhost/tenantevents:VERSION and writes .data/image/tenantevents-VERSION.oci.tar
#
# The image runs `serve` by default and `migrate` when asked; configuration comes from the environment and secret files
# (/run/secrets/tenantevents, one file per setting). The API listens on 8080, /metrics on 9090 (and nothing else there).
# It expects a read-only root filesystem with a writable /tmp, and the data folder (/var/lib/tenantevents: the local key
# provider's keys) on a volume shared by every instance, or a key vault.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${IMAGE_OUT:-$ROOT/.data/image}
VERSION=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$ROOT/Directory.Build.props")
REVISION=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
IMAGE=${IMAGE:-localhost/tenantevents:$VERSION}
ARCHIVE=$OUT/tenantevents-$VERSION.oci.tar
# What .NET needs of the operating system (globalization is invariant: no ICU).
PACKAGES="libc6 libgcc-s1 libstdc++6 zlib1g libssl3 ca-certificates tzdata"
APP_UID=10001

command -v buildah >/dev/null || { echo "Installing buildah (Debian)"; apt-get update -qq && apt-get install -y -q buildah >/dev/null; }

rm -rf "$OUT/rootfs" "$OUT/debs" && mkdir -p "$OUT/rootfs" "$OUT/debs"
ROOTFS=$OUT/rootfs

echo "1/3 the service, self-contained and ReadyToRun (compiled ahead of time: a shorter start, which rolling upgrades wait for)"
dotnet publish "$ROOT/src/TenantEvents" -c Release -r linux-x64 --self-contained true -p:PublishReadyToRun=true \
  -p:SOURCE_REVISION="$REVISION" -o "$ROOTFS/app" -nologo -clp:ErrorsOnly >/dev/null

echo "2/3 the native libraries, from Debian's packages: $PACKAGES"
(cd "$OUT/debs" && apt-get download $PACKAGES >/dev/null 2>&1)
for deb in "$OUT"/debs/*.deb; do dpkg-deb -x "$deb" "$ROOTFS"; done
# What a program never reads: documentation, manuals, translations, character-set converters, package scripts.
rm -rf "$ROOTFS"/usr/share/{doc,man,info,lintian,locale} "$ROOTFS"/usr/lib/x86_64-linux-gnu/gconv "$ROOTFS"/usr/sbin "$ROOTFS"/usr/bin "$ROOTFS"/sbin "$ROOTFS"/bin
# The trusted certificate authorities in the one file OpenSSL reads (what update-ca-certificates would write).
mkdir -p "$ROOTFS/etc/ssl/certs"
cat "$ROOTFS"/usr/share/ca-certificates/mozilla/*.crt > "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
ln -sf /usr/share/zoneinfo/Etc/UTC "$ROOTFS/etc/localtime"
# The user the service runs as, and the few files every program expects.
printf 'root:x:0:0:root:/root:/nonexistent\ntenantevents:x:%s:%s:TenantEvents:/var/lib/tenantevents:/nonexistent\n' $APP_UID $APP_UID > "$ROOTFS/etc/passwd"
printf 'root:x:0:\ntenantevents:x:%s:\n' $APP_UID > "$ROOTFS/etc/group"
printf 'hosts: files dns\n' > "$ROOTFS/etc/nsswitch.conf"
mkdir -p "$ROOTFS/tmp" "$ROOTFS/var/lib/tenantevents" "$ROOTFS/run/secrets/tenantevents" "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/etc"
chmod 1777 "$ROOTFS/tmp"
chown $APP_UID:$APP_UID "$ROOTFS/var/lib/tenantevents"
chmod 0700 "$ROOTFS/var/lib/tenantevents"
# What went in, for scanners and auditors (the packages' exact versions and the commit).
{
  echo "tenantevents $VERSION+$REVISION"
  for deb in "$OUT"/debs/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
} > "$ROOTFS/app/PACKAGES"

echo "3/3 the image: $IMAGE"
container=$(buildah from scratch)
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
# As one archive with numeric owners, so the data folder stays the service user's (a copy would give it to root).
tar --numeric-owner -C "$ROOTFS" -cf "$OUT/rootfs.tar" .
buildah add --quiet "$container" "$OUT/rootfs.tar" / >/dev/null
rm -f "$OUT/rootfs.tar"
buildah config \
  --user $APP_UID:$APP_UID \
  --workingdir /app \
  --entrypoint '["/app/TenantEvents"]' \
  --cmd serve \
  --port 8080 \
  --port 9090 \
  --volume /var/lib/tenantevents \
  --env "ASPNETCORE_URLS=http://+:8080;http://+:9090" \
  --env TenantEvents__ManagementPort=9090 \
  --env ASPNETCORE_ENVIRONMENT=Production \
  --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
  --env DOTNET_EnableDiagnostics=0 \
  --env Logging__Console__FormatterName=json \
  --env Logging__Console__FormatterOptions__IncludeScopes=true \
  --env Logging__Console__FormatterOptions__TimestampFormat=yyyy-MM-ddTHH:mm:ss.fffZ \
  --env Logging__Console__FormatterOptions__UseUtcTimestamp=true \
  --env TenantEvents__DataFolder=/var/lib/tenantevents \
  --env TENANTEVENTS_SECRETS=/run/secrets/tenantevents \
  --label org.opencontainers.image.title=TenantEvents \
  --label org.opencontainers.image.version="$VERSION" \
  --label org.opencontainers.image.revision="$REVISION" \
  --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --label org.opencontainers.image.description="Multi-tenant event-sourced service: serve (default) or migrate" \
  "$container"
buildah commit --quiet --format oci --rm "$container" "$IMAGE" >/dev/null
trap - EXIT
rm -f "$ARCHIVE"
buildah push --quiet "$IMAGE" "oci-archive:$ARCHIVE:$IMAGE" >/dev/null
echo "$IMAGE  $(du -h "$ARCHIVE" | cut -f1) compressed, $(du -sh "$ROOTFS" | cut -f1) unpacked  ->  $ARCHIVE"
