package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// noStore is a paho Store that keeps nothing. paho reads its store only
// when a client connects (to resume what the same client had in flight
// on its previous connection), and this package makes a new paho client
// for every connection, so the store paho otherwise fills and empties for
// every message (a mutex and a map per PUBLISH and PUBACK) is never read:
// the broker's session, not the client, keeps what was in flight.
type noStore struct{}

var _ paho.Store = noStore{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
