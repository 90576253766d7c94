package testenv

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EventMessages lists the messages of the events with reason recorded on obj.
func EventMessages(t testing.TB, c client.Client, obj client.Object, reason string) []string {
	t.Helper()
	var list corev1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	var messages []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == obj.GetUID() && e.Reason == reason {
			messages = append(messages, e.Message)
		}
	}
	return messages
}
