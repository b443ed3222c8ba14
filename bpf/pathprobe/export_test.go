package pathprobe

// ProgramNames are the names of the probe's programs, for tests that look
// for them among the kernel's.
var ProgramNames = []string{
	probeProgOnNetDevXmit, probeProgOnNetifReceiveSkb, probeProgOnSockSendLength,
	probeProgOnSockRecvLength, probeProgOnFibTableLookup,
	probeProgOnSysEnter, probeProgOnTcpRcvSpaceAdjust, probeProgOnSysExit,
	probeProgOnSoftirqEntry, probeProgOnSoftirqExit,
}
