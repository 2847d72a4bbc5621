<?php
// Prints the database's state for the entrypoint: "unreachable", "empty"
// (reachable, Moodle not installed) or "installed". Uses only mysqli, so it
// works before Moodle can bootstrap.
mysqli_report(MYSQLI_REPORT_OFF);
$port = (int) getenv('MOODLE_DATABASE_PORT_NUMBER');
$db = @mysqli_connect(
    getenv('MOODLE_DATABASE_HOST'),
    getenv('MOODLE_DATABASE_USER'),
    getenv('MOODLE_DATABASE_PASSWORD'),
    getenv('MOODLE_DATABASE_NAME'),
    $port > 0 ? $port : 3306
);
if (!$db) {
    echo "unreachable\n";
    exit(0);
}
$result = mysqli_query($db, "SHOW TABLES LIKE 'mdl_config'");
echo ($result && mysqli_num_rows($result) > 0) ? "installed\n" : "empty\n";
