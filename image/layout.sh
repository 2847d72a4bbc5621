#!/usr/bin/env bash
# Build-time layout of the image, run by the Dockerfile once Moodle's code is
# unpacked in $APP_DIR (and by scripts/real-moodle-check inside its Debian
# root, so the check runs exactly this layout, not a copy of it).
#
# Why a script and not Dockerfile lines: Moodle 5.1 moved every web file into
# public/ (MDL-83424). Which vhost to use depends on the code actually
# unpacked, so the build looks instead of trusting a version number:
#   public/ present → serve public/ (config.php, admin/cli, vendor/ are outside)
#   otherwise       → serve the code root, with the internal paths denied
# Either way: the code belongs to root and is read-only for the PHP user;
# config.php is a symlink into /var/www/config, written at each start.
set -euo pipefail

APP_DIR="${APP_DIR:-/var/www/moodle}"
HELPERS="${HELPERS:-/usr/local/lib/moodlectl}"
APACHE_DIR="${APACHE_DIR:-/etc/apache2}"
# Where PHP reads extra ini files: the official images' conf.d, or (Debian's
# own PHP) one directory per SAPI, space-separated.
PHP_CONF_DIRS="${PHP_CONF_DIRS:-${PHP_INI_DIR:-/usr/local/etc/php}/conf.d}"
RUN_USER="${RUN_USER:-www-data}"

[[ -f "$APP_DIR/lib/setup.php" ]] || { echo "layout: no Moodle code in $APP_DIR" >&2; exit 1; }
if [[ -d "$APP_DIR/public" ]]; then layout=public; else layout=legacy; fi
echo "layout: Moodle code in $APP_DIR uses the $layout layout" >&2

install -d -o "$RUN_USER" -g "$RUN_USER" /var/www/moodledata /var/cache/moodle /var/www/config
ln -sfn /var/www/config/config.php "$APP_DIR/config.php"
chown -R root:root "$APP_DIR"
chmod -R go-w "$APP_DIR"
printf '%s\n' "$layout" >"$HELPERS/layout"

install -m 0644 "$HELPERS/apache/moodle-common.conf" "$APACHE_DIR/moodle-common.conf"
install -m 0644 "$HELPERS/apache/moodle-$layout.conf" "$APACHE_DIR/sites-available/000-default.conf"
sed -ri 's/^Listen 80$/Listen 8080/' "$APACHE_DIR/ports.conf"
a2enmod rewrite headers remoteip alias >/dev/null
a2ensite 000-default >/dev/null

for d in $PHP_CONF_DIRS; do
  install -m 0644 "$HELPERS/php.ini" "$d/zz-moodle.ini"
done

# Apache runs as the PHP user (uid 33) on 8080: its runtime directories are its own.
for d in /var/run/apache2 /var/lock/apache2 /var/log/apache2; do
  install -d -o "$RUN_USER" -g "$RUN_USER" "$d"
done
