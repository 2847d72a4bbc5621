<?php
// Prints the database's state for the entrypoint: "unreachable", "empty"
// (reachable, Moodle not installed) or "installed". Uses only mysqli, so it
// works before Moodle can bootstrap.
// With MOODLE_DATABASE_TLS=true it connects as Moodle does: TLS, the
// server's certificate verified (a server requiring TLS refuses anything else).
mysqli_report(MYSQLI_REPORT_OFF);
$port = (int) getenv('MOODLE_DATABASE_PORT_NUMBER');
$flags = getenv('MOODLE_DATABASE_TLS') === 'true' ? MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT : 0;
$db = mysqli_init();
$connected = @$db->real_connect(
    getenv('MOODLE_DATABASE_HOST'),
    getenv('MOODLE_DATABASE_USER'),
    getenv('MOODLE_DATABASE_PASSWORD'),
    getenv('MOODLE_DATABASE_NAME'),
    $port > 0 ? $port : 3306,
    null,
    $flags
);
if (!$connected) {
    echo "unreachable\n";
    exit(0);
}
$result = mysqli_query($db, "SHOW TABLES LIKE 'mdl_config'");
echo ($result && mysqli_num_rows($result) > 0) ? "installed\n" : "empty\n";
