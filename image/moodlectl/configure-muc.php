<?php
// Point Moodle's application cache (MUC) at the Redis store described by
// $CFG->moodlectl_muc_redis in config.php. Idempotent: run after every
// install/upgrade, it (re)writes the store instance and the mode mapping.
define('CLI_SCRIPT', true);
require('/var/www/config/config.php');
require_once($CFG->dirroot . '/cache/locallib.php');

$settings = $CFG->moodlectl_muc_redis ?? null;
if (!$settings) {
    cli_writeln('no $CFG->moodlectl_muc_redis: nothing to do');
    exit(0);
}
$name = 'moodlectl-redis';
$config = cache_config_writer::instance();
$stores = $config->get_all_stores();
$configuration = [
    'server' => $settings['server'],
    'prefix' => $settings['prefix'],
    'encryption' => !empty($settings['encryption']),
    'serializer' => 1,
    'compressor' => 0,
];
if (isset($stores[$name])) {
    $config->edit_store_instance($name, 'redis', $configuration);
} else {
    $config->add_store_instance($name, 'redis', $configuration);
}
$config->set_mode_mappings([
    cache_store::MODE_APPLICATION => [$name],
    cache_store::MODE_SESSION => ['default_session'],
    cache_store::MODE_REQUEST => ['default_request'],
]);
cli_writeln("application cache mapped to Redis store {$name} at {$settings['server']}");
