<?php
// Point Moodle's application cache (MUC) at the Redis store described by
// $CFG->moodlectl_muc_redis in config.php. Run by the entrypoint at every
// start, so a changed endpoint or a fixed helper reaches an existing site.
//
// Idempotent: it writes the cache configuration (muc/config.php in the
// shared dataroot) only when the store or the mode mapping differ, so N
// replicas starting together do not rewrite it N times. Core config.php
// cannot declare cache stores; Moodle's own config-writer API is the way
// (\core_cache\config_writer, \core_cache\store: Moodle 4.5 and later).
//
// Exit 0 when the application cache is on a Redis store that answers;
// 1 (with the reason on stderr) otherwise.
define('CLI_SCRIPT', true);

$configfile = getenv('CONFIG_FILE') ?: '/var/www/config/config.php';
require($configfile);
require_once($CFG->libdir . '/clilib.php');

use core_cache\config_writer;
use core_cache\store;

$settings = $CFG->moodlectl_muc_redis ?? null;
if (!$settings) {
    cli_writeln('no $CFG->moodlectl_muc_redis in config.php: the application cache stays as it is');
    exit(0);
}

$name = 'moodlectl-redis';
$plugindir = core_component::get_plugin_directory('cachestore', 'redis');
if (!$plugindir || !file_exists("$plugindir/lib.php")) {
    cli_problem('the Redis cache store plugin (cachestore_redis) is missing from this Moodle');
    exit(1);
}
require_once("$plugindir/lib.php");
if (!cachestore_redis::are_requirements_met()) {
    cli_problem('the Redis cache store cannot be used: the PHP redis extension is missing');
    exit(1);
}

$configuration = [
    'server' => $settings['server'],
    'prefix' => $settings['prefix'],
    'password' => '',
    'encryption' => !empty($settings['encryption']),
    // Without a CA file Moodle's store turns peer verification off.
    'cafile' => !empty($settings['encryption']) ? (string) $settings['cafile'] : '',
    'serializer' => Redis::SERIALIZER_PHP,
    'compressor' => cachestore_redis::COMPRESSOR_NONE,
];
$wanted = [
    store::MODE_APPLICATION => [$name],
    store::MODE_SESSION => ['default_session'],
    store::MODE_REQUEST => ['default_request'],
];

$writer = config_writer::instance();
$stores = $writer->get_all_stores();
$changed = [];
if (!isset($stores[$name])) {
    $writer->add_store_instance($name, 'redis', $configuration);
    $changed[] = 'store added';
} else if ($stores[$name]['configuration'] != $configuration) {
    $writer->edit_store_instance($name, 'redis', $configuration);
    $changed[] = 'store updated';
}
$current = [];
foreach ($writer->get_mode_mappings() as $mapping) {
    $current[$mapping['mode']][] = $mapping['store'];
}
foreach ($wanted as $mode => $names) {
    if (($current[$mode] ?? []) !== $names) {
        $writer->set_mode_mappings($wanted);
        $changed[] = 'mode mappings set';
        break;
    }
}

// A store Moodle cannot reach is silently replaced by the file store at run
// time: say so here, where someone reads the log.
$probe = new cachestore_redis($name, $configuration);
if (!$probe->is_ready()) {
    $tls = $configuration['encryption'] ? "TLS, CA file {$configuration['cafile']}" : 'no TLS';
    cli_problem("the Redis store at {$settings['server']} ($tls) does not answer: connection or certificate refused");
    exit(1);
}
$what = $changed ? implode(', ', $changed) : 'already configured';
cli_writeln("application cache on Redis store {$name} at {$settings['server']} ({$what})");
