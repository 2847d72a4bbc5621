<?php
// The health endpoint, /moodlectl-health: 200 "ok" when this task can serve
// Moodle, 503 "unhealthy: <part>" otherwise. The ALB target group (matcher
// 200) and the ECS container health check ask it.
//
// Why not a Moodle page: the ALB sends the task's IP as Host, and Moodle
// answers any request whose Host is not wwwroot's with a 303 redirect before
// it touches the database, the session store or the cache, so "/" passes on a
// site whose every real page is a 500. This page answers the same whatever the
// Host, and walks the parts a real page needs, stopping at the first failure:
//   config    config.php loads
//   dataroot  a file can be written, read back and removed (EFS, access point)
//   database  the database answers and holds an installed Moodle
//   moodle    Moodle's own bootstrap completes (without a session)
//   session   the configured session handler connects (Moodle's own code path)
//   cache     the application cache is mapped to the Redis store, which answers
// The reply names the part only; the detail goes to the error log (stderr),
// never a host name, a password or a path.
define('NO_MOODLE_COOKIES', true);
// An upgrade in progress (or maintenance mode) is the operator's doing, not a
// broken task: replacing tasks then would only make it worse.
define('NO_UPGRADE_CHECK', true);
define('ABORT_AFTER_CONFIG', true);

ob_start();

function moodlectl_health_reply(int $code, string $body): void {
    while (ob_get_level() > 0) {
        ob_end_clean();
    }
    http_response_code($code);
    header('Content-Type: text/plain; charset=utf-8');
    header('Cache-Control: no-store');
    echo $body, "\n";
    exit;
}

function moodlectl_health_fail(string $part, string $detail): void {
    error_log("moodlectl-health: {$part}: {$detail}");
    moodlectl_health_reply(503, "unhealthy: {$part}");
}

try {
    require('/var/www/moodle/config.php');
} catch (Throwable $e) {
    moodlectl_health_fail('config', $e->getMessage());
}

$probe = $CFG->dataroot . '/.moodlectl-health-' . gethostname();
$token = (string) microtime(true);
if (@file_put_contents($probe, $token) !== strlen($token) || @file_get_contents($probe) !== $token || !@unlink($probe)) {
    moodlectl_health_fail('dataroot', "cannot write, read back and remove a file in {$CFG->dataroot}");
}

// The database, directly: Moodle's own connection failure is a full error page.
mysqli_report(MYSQLI_REPORT_OFF);
// With TLS as config.php asks for it (Moodle's own flags for 'verify-full').
$db = mysqli_init();
$db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 3);
$flags = isset($CFG->dboptions['ssl']) ? MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT : 0;
$port = (int) ($CFG->dboptions['dbport'] ?? 3306);
if (!@$db->real_connect($CFG->dbhost, $CFG->dbuser, $CFG->dbpass, $CFG->dbname, $port, null, $flags)) {
    moodlectl_health_fail('database', 'connection failed: ' . mysqli_connect_error());
}
$result = @$db->query("SELECT value FROM {$CFG->prefix}config WHERE name = 'version'");
if (!$result || !$result->fetch_row()) {
    moodlectl_health_fail('database', 'Moodle is not installed in this database');
}
$db->close();

// Moodle's bootstrap, as every page runs it (ABORT_AFTER_CONFIG_CANCEL is
// Moodle's own way to finish a bootstrap begun with ABORT_AFTER_CONFIG).
// This probe is not a page of the site: without a Host header, Moodle skips
// its wwwroot check instead of redirecting the probe to the site's address.
unset($_SERVER['HTTP_HOST']);
try {
    define('ABORT_AFTER_CONFIG_CANCEL', true);
    require("{$CFG->dirroot}/lib/setup.php");
} catch (Throwable $e) {
    moodlectl_health_fail('moodle', get_class($e) . ': ' . $e->getMessage());
}

// The session handler every page uses, with its own connection code (one
// attempt: the load balancer's check has a timeout of its own).
try {
    $CFG->session_redis_max_retries = 1;
    $class = \core\session\manager::get_handler_class();
    $handler = new $class();
    $handler->init();
} catch (Throwable $e) {
    moodlectl_health_fail('session', get_class($e) . ': ' . $e->getMessage());
}

if (!empty($CFG->moodlectl_muc_redis)) {
    $name = 'moodlectl-redis';
    $config = \core_cache\config::instance();
    $first = null;
    foreach ($config->get_mode_mappings() as $mapping) {
        if ((int) $mapping['mode'] === \core_cache\store::MODE_APPLICATION) {
            $first = $mapping['store'];
            break;
        }
    }
    $stores = $config->get_all_stores();
    if ($first !== $name || empty($stores[$name])) {
        moodlectl_health_fail('cache', "the application cache is mapped to '{$first}', not the Redis store");
    }
    require_once(core_component::get_plugin_directory('cachestore', 'redis') . '/lib.php');
    $store = new cachestore_redis($name, $stores[$name]['configuration']);
    if (!$store->is_ready()) {
        moodlectl_health_fail('cache', 'the Redis store does not answer (connection or certificate refused)');
    }
}

moodlectl_health_reply(200, 'ok');
