<?php
// dockfleet: WordPress settings from the container's environment; the database password from a
// file (a swarm secret), so it is in neither the image, the stack file nor a command line.
define('DB_NAME', getenv('WORDPRESS_DB_NAME') ?: 'wordpress');
define('DB_USER', getenv('WORDPRESS_DB_USER') ?: 'wordpress');
define('DB_HOST', getenv('WORDPRESS_DB_HOST') ?: 'db');
$dockfleet_password_file = getenv('WORDPRESS_DB_PASSWORD_FILE') ?: '/run/secrets/db_password';
define('DB_PASSWORD', is_readable($dockfleet_password_file) ? rtrim(file_get_contents($dockfleet_password_file), "\n") : '');
define('DB_CHARSET', 'utf8mb4');
define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');
$table_prefix = 'wp_';
