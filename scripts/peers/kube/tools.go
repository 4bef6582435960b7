//go:build tools

// Package tools pins the Kubernetes control-plane binaries the test kit runs.
// k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points
// every k8s.io/* staging module at ./staging, so the replace block in go.mod
// pins each one to the published v0.x.y matching the kubernetes release.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
