// Package composetest checks the deployment files against the tools that
// read them: docker-compose.yml with compose-go, the library inside
// `docker compose`, and deploy/nginx/jagadesa.conf with a real nginx. No
// Docker engine runs on the development machines, so this is what stands
// between an edit and a stack that will not start.
package composetest
