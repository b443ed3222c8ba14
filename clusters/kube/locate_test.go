package kube

import "testing"

func TestKubepodsRoot(t *testing.T) {
	tests := []struct{ pod, want string }{
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-2.scope", "/kubepods.slice"},
		{"kubepods/besteffort/pod1/2", "kubepods"},
		{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod1.slice/cri-containerd-2.scope", "/kubelet.slice/kubelet-kubepods.slice"},
		{"/system.slice/containerd.service", ""},
	}
	for _, tt := range tests {
		if got := kubepodsRoot(tt.pod); got != tt.want {
			t.Errorf("kubepodsRoot(%q) = %q, want %q", tt.pod, got, tt.want)
		}
	}
}
