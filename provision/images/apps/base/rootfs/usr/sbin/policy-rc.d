#!/bin/sh
# Containers have no init: package scripts must not start services while an image is built.
exit 101
